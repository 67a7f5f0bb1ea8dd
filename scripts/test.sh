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

echo "== cargo test --workspace (unit, integration, golden and end-to-end CLI tests)"
cargo test --workspace --locked "$@"
