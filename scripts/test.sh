#!/usr/bin/env bash
# The whole test suite of Spiegel. Its real components (a Kafka broker, an S3-compatible server,
# PostgreSQL, a browser) are installed and started from here, so that this one command stays the
# whole story.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python with pyarrow and DuckDB, for the test that reads the reports as their users do,
# schemathesis, which fuzzes the HTTP API against its OpenAPI document, and
# kubernetes-validate, which checks the Kubernetes manifests against the schemas offline, and
# SciPy (HiGHS), for the independent attacker of tests/attacker/.
cache="${SPIEGEL_CACHE:-$HOME/.cache/spiegel}"
# One build directory for this command and CI (.ci/run sources the same file).
source scripts/build-env.sh
echo "== building in $CARGO_TARGET_DIR"
venv="$cache/venv-py"
if ! "$venv/bin/python" -c "import pyarrow, duckdb, schemathesis, kubernetes_validate, scipy" 2>/dev/null; then
    echo "== installing pyarrow, duckdb, schemathesis, kubernetes-validate and scipy into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow==26.0.1 duckdb==2.0.0 \
        schemathesis==4.32.5 kubernetes-validate==1.37.0 scipy==1.17.1
fi
export SPIEGEL_PYTHON="$venv/bin/python"

# The Kubernetes manifests: every overlay rendered and validated; tests/deploy.rs reads them.
echo "== rendering and validating deploy/overlays"
export SPIEGEL_DEPLOY_RENDERED="$PWD/target/deploy"
scripts/deploy-check.sh "$SPIEGEL_DEPLOY_RENDERED"

# A real browser for the rendered pages: Debian's headless Chromium, and poppler's pdftotext
# and pdfinfo to read the PDFs it prints. apt-get only runs when one of them is missing.
if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
    echo "== installing chromium and poppler-utils"
    sudo_if_needed=""
    [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
    $sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq --no-install-recommends \
        chromium poppler-utils fonts-dejavu-core >/dev/null
fi
export SPIEGEL_TEST_CHROMIUM="${SPIEGEL_TEST_CHROMIUM:-$(command -v chromium)}"
# Screenshots and PDFs of the browser test, kept as CI artifacts.
export SPIEGEL_ARTIFACTS="${SPIEGEL_ARTIFACTS:-$PWD/target/artifacts}"
echo "   browser: $("$SPIEGEL_TEST_CHROMIUM" --version 2>/dev/null || echo "$SPIEGEL_TEST_CHROMIUM"); artifacts in $SPIEGEL_ARTIFACTS"

# A real Kafka broker (KRaft, single node, 127.0.0.1) for the tests of the four stages as
# separate processes; stopped however the tests end.
kafka_dir="$(mktemp -d "${TMPDIR:-/tmp}/spiegel-kafka.XXXXXX")"
# A real S3-compatible object store (SeaweedFS, 127.0.0.1) for the reports in object storage,
# and a real PostgreSQL (Debian's packages, 127.0.0.1) for the API's state; all three servers
# are stopped however the tests end.
s3_dir="$(mktemp -d "${TMPDIR:-/tmp}/spiegel-s3.XXXXXX")"
postgres_dir="$(mktemp -d "${TMPDIR:-/tmp}/spiegel-postgres.XXXXXX")"
trap 'scripts/kafka.sh stop "$kafka_dir" || true; rm -rf "$kafka_dir"; scripts/s3.sh stop "$s3_dir" || true; rm -rf "$s3_dir"; scripts/postgres.sh stop "$postgres_dir" || true; rm -rf "$postgres_dir"' EXIT
echo "== starting a Kafka broker"
SPIEGEL_TEST_KAFKA="$(scripts/kafka.sh start "$kafka_dir")"
export SPIEGEL_TEST_KAFKA SPIEGEL_TEST_KAFKA_DIR="$kafka_dir"
echo "   on $SPIEGEL_TEST_KAFKA"
echo "== starting an S3-compatible server (SeaweedFS)"
s3_endpoint="$(scripts/s3.sh start "$s3_dir")"
echo "   on $s3_endpoint"
export SPIEGEL_TEST_S3_DIR="$s3_dir"
echo "== starting PostgreSQL"
postgres_url="$(scripts/postgres.sh start "$postgres_dir")"
echo "   on $postgres_url"
export SPIEGEL_TEST_POSTGRES_DIR="$postgres_dir"

echo "== cargo test --workspace --all-features (unit, integration, golden, end-to-end, Kafka and browser tests)"
cargo test --workspace --all-features --locked "$@"
