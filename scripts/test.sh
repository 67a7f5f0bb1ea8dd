#!/usr/bin/env bash
# The whole test suite of Spiegel. Later parts (a Kafka broker, an S3-compatible server, a
# browser) are installed and started from here, so that this one command stays the whole story.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace (unit, integration, golden and end-to-end CLI tests)"
cargo test --workspace --locked "$@"
