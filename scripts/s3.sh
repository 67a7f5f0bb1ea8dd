#!/usr/bin/env bash
# A real S3-compatible object store on 127.0.0.1 for the tests: SeaweedFS (Apache-2.0), its
# master, volume server, filer and S3 gateway in one process.
#
#   scripts/s3.sh start DIR   starts it with its data and log in DIR and creates the bucket
#                             spiegel-test; prints the endpoint (http://127.0.0.1:PORT) and
#                             writes it to DIR/endpoint, the bucket to DIR/bucket, the access
#                             key and secret to DIR/access_key and DIR/secret_key
#   scripts/s3.sh stop DIR    stops it
#
# SeaweedFS is built once from the Go module proxy into the cache. Its go.mod has replace
# directives, which `go install module@version` refuses, so the module is downloaded and
# built in a copy of itself.
set -euo pipefail
# shellcheck source=scripts/pidfile.sh
source "$(dirname "$0")/pidfile.sh"

# The newest SeaweedFS the Go module proxy serves here (a pseudo-version of its main branch:
# 4.53), with conditional writes (If-None-Match: *), which the publish stage relies on.
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
cache="${SPIEGEL_CACHE:-$HOME/.cache/spiegel}"
weed="$cache/go-bin/weed-$SEAWEEDFS_VERSION"

install() {
    [[ -x "$weed" ]] && return
    echo "== building SeaweedFS $SEAWEEDFS_VERSION from the Go module proxy (once, several minutes)" >&2
    export GOPATH="$cache/go" GOFLAGS=-modcacherw
    local source build
    source="$(go mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    build="$(mktemp -d "${TMPDIR:-/tmp}/spiegel-weed-build.XXXXXX")"
    cp -r "$source/." "$build"
    chmod -R u+w "$build"
    mkdir -p "$cache/go-bin"
    (cd "$build" && go build -o "$weed.tmp" ./weed)
    mv "$weed.tmp" "$weed"
    rm -rf "$build"
}

free_ports() {
    # N distinct free ports. SeaweedFS also listens for gRPC on each HTTP port + 10000, so
    # those must be free too.
    python3 -c '
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    held.append(s)
    if port + 10000 > 65535 or port + 10000 in ports:
        continue
    g = socket.socket()
    try:
        g.bind(("127.0.0.1", port + 10000))
    except OSError:
        continue
    held.append(g)
    ports.append(port)
print(" ".join(map(str, ports)))' "$1"
}

start() {
    local dir="$1"
    install
    mkdir -p "$dir/data"
    dir="$(cd "$dir" && pwd)"
    local master volume filer s3 access secret
    read -r master volume filer s3 <<<"$(free_ports 4)"
    access="spiegel-test"
    secret="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
    # One identity with the rights the pipeline needs.
    cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "spiegel", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    nohup "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
        -master.port="$master" -master.volumeSizeLimitMB=64 \
        -volume.port="$volume" -volume.max=64 \
        -filer -filer.port="$filer" \
        -s3 -s3.port="$s3" -s3.config="$dir/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
        >"$dir/weed.log" 2>&1 &
    echo $! >"$dir/pid"
    echo "$access" >"$dir/access_key"
    echo "$secret" >"$dir/secret_key"
    # Ready once the S3 gateway answers and the bucket is created and listed (the filer may
    # come up after the gateway: creating is tried again until then).
    for _ in $(seq 1 240); do
        if curl -s -o /dev/null "http://127.0.0.1:$s3/" 2>/dev/null &&
            echo "s3.bucket.create -name spiegel-test" |
            "$weed" shell -master="127.0.0.1:$master" >"$dir/bucket.log" 2>&1 &&
            echo "s3.bucket.list" | "$weed" shell -master="127.0.0.1:$master" 2>/dev/null |
            grep -q spiegel-test; then
            echo spiegel-test >"$dir/bucket"
            echo "http://127.0.0.1:$s3" >"$dir/endpoint"
            echo "http://127.0.0.1:$s3"
            return
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "s3.sh: SeaweedFS exited; see $dir/weed.log" >&2
            tail -20 "$dir/weed.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "s3.sh: SeaweedFS did not serve the bucket within 120 s; see $dir/weed.log and $dir/bucket.log" >&2
    exit 1
}

stop() {
    stop_pidfile "$1"
}

case "${1:-}" in
start) start "${2:?scripts/s3.sh start DIR}" ;;
stop) stop "${2:?scripts/s3.sh stop DIR}" ;;
*)
    echo "usage: scripts/s3.sh start|stop DIR" >&2
    exit 2
    ;;
esac
