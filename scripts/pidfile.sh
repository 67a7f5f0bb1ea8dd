# Sourced by the scripts that start the test suite's servers (kafka.sh, s3.sh).

# Stops the server whose process id DIR/pid holds: SIGTERM, up to 30 s to exit, then SIGKILL.
stop_pidfile() {
    local dir="$1"
    [[ -f "$dir/pid" ]] || return 0
    local pid
    pid="$(cat "$dir/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
}
