#!/usr/bin/env bash
# Renders every Kustomize overlay of deploy/ and validates the result offline against the
# Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors). Leaves the
# rendered manifests as JSON in $1 for crates/spiegel/tests/deploy.rs, which asserts their
# security properties. kustomize is built with `go install` once and cached.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
python="${SPIEGEL_PYTHON:?SPIEGEL_PYTHON: the venv of scripts/test.sh}"
cache="${SPIEGEL_CACHE:-$HOME/.cache/spiegel}"
kustomize_version=v5.7.1
kustomize="$cache/go-bin/kustomize-$kustomize_version"
if [ ! -x "$kustomize" ]; then
    echo "== building kustomize $kustomize_version with go install" >&2
    GOBIN="$cache/go-bin/tmp" GOPATH="$cache/go" GOFLAGS=-modcacherw \
        go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
    mv "$cache/go-bin/tmp/kustomize" "$kustomize"
fi
mkdir -p "$out"
for overlay in deploy/overlays/*/; do
    name="$(basename "$overlay")"
    "$kustomize" build "$overlay" > "$out/$name.yaml"
    "$(dirname "$python")/kubernetes-validate" --strict --quiet "$out/$name.yaml"
    "$python" -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)' \
        < "$out/$name.yaml" > "$out/$name.json"
    echo "   $name: $(grep -c '^kind:' "$out/$name.yaml") resources rendered and valid" >&2
done
