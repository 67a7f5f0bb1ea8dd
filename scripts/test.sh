#!/usr/bin/env bash
# The whole test suite of Spiegel. Later parts (a Kafka broker, an S3-compatible server, a
# browser) are installed and started from here, so that this one command stays the whole story.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python with pyarrow and DuckDB, for the test that reads the reports as their users do.
cache="${SPIEGEL_CACHE:-$HOME/.cache/spiegel}"
venv="$cache/venv-py"
if ! "$venv/bin/python" -c "import pyarrow, duckdb" 2>/dev/null; then
    echo "== installing pyarrow and duckdb into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow==26.0.1 duckdb==2.0.0
fi
export SPIEGEL_PYTHON="$venv/bin/python"

# A real Kafka broker (KRaft, single node, 127.0.0.1) for the tests of the four stages as
# separate processes; stopped however the tests end.
kafka_dir="$(mktemp -d "${TMPDIR:-/tmp}/spiegel-kafka.XXXXXX")"
trap 'scripts/kafka.sh stop "$kafka_dir"; rm -rf "$kafka_dir"' EXIT
echo "== starting a Kafka broker"
SPIEGEL_TEST_KAFKA="$(scripts/kafka.sh start "$kafka_dir")"
export SPIEGEL_TEST_KAFKA SPIEGEL_TEST_KAFKA_DIR="$kafka_dir"
echo "   on $SPIEGEL_TEST_KAFKA"

echo "== cargo test --workspace --all-features (unit, integration, golden, end-to-end and Kafka tests)"
cargo test --workspace --all-features --locked "$@"
