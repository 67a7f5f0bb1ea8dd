#!/usr/bin/env bash
# The release build: the binary with the Kafka transport, as deploy/Dockerfile builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p spiegel --features kafka,otel
