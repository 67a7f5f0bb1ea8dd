# Sourced by scripts/test.sh and .ci/run: the one build directory both use, so that a test run
# on a machine and its CI runs compile the workspace once between them, not once each.
#
# A fresh clone has no target/; the directory lives beside the other caches of the test command
# (override with CARGO_TARGET_DIR). Incremental caches only grow there (gigabytes per week of
# commits) and a full build gains little from them; stale test binaries do too, so a directory
# past 24 GiB starts over.
# .ci/run sources this and then runs scripts/test.sh, which sources it again: once is enough.
[ -z "${SPIEGEL_BUILD_ENV:-}" ] || return 0
export SPIEGEL_BUILD_ENV=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${SPIEGEL_CACHE:-$HOME/.cache/spiegel}/ci-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
if [ -d "$CARGO_TARGET_DIR" ] && [ "$(du -s --block-size=1G "$CARGO_TARGET_DIR" | cut -f1)" -gt 24 ]; then
    echo "== the build directory $CARGO_TARGET_DIR is past 24 GiB: starting it over"
    rm -rf "$CARGO_TARGET_DIR"
fi
