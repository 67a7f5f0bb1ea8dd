#!/usr/bin/env bash
# A real PostgreSQL server on 127.0.0.1 for the tests, from the machine's Debian packages.
#
#   scripts/postgres.sh start DIR   initialises a cluster in DIR/data and starts it, listening
#                                   on 127.0.0.1 only with a random password for the user
#                                   spiegel; prints the URL of its database postgres without
#                                   the password, and writes it with the password to DIR/url,
#                                   the password alone to DIR/password (both mode 0600) and the
#                                   server's bin directory to DIR/bin
#   scripts/postgres.sh stop DIR    stops it (fast shutdown)
#
# initdb refuses to run as root, so as root the cluster belongs to Debian's postgres user.
set -euo pipefail

bin_dir() {
    find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1
}

install() {
    [[ -n "$(bin_dir)" && -x "$(bin_dir)/pg_ctl" ]] && return
    echo "== installing PostgreSQL from Debian's packages" >&2
    local sudo_if_needed=""
    [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
    $sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq --no-install-recommends \
        postgresql >/dev/null
    # The package creates and may start a cluster of its own on port 5432; the tests use only
    # their own, so the one just installed is stopped again.
    if command -v pg_lsclusters >/dev/null; then
        pg_lsclusters --no-header | awk '$4 == "online" {print $1, $2}' |
            while read -r version cluster; do
                $sudo_if_needed pg_ctlcluster "$version" "$cluster" stop || true
            done
    fi
}

# Runs a server program as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir="$1"
    install
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local bin port password
    bin="$(bin_dir)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    echo "$password" >"$dir/password"
    chmod 600 "$dir/password"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U spiegel --auth=scram-sha-256 \
        --pwfile="$dir/password" --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        echo "postgres.sh: initdb failed; see $dir/initdb.log" >&2
        tail -20 "$dir/initdb.log" >&2
        exit 1
    }
    # Loopback only, the socket in DIR (quoted for pg_ctl, which hands -o to a shell), and no
    # fsync: the test data are thrown away.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" \
        start >/dev/null || {
        echo "postgres.sh: the server did not start; see $dir/postgres.log" >&2
        tail -20 "$dir/postgres.log" >&2
        exit 1
    }
    echo "$bin" >"$dir/bin"
    (umask 077 && echo "postgres://spiegel:$password@127.0.0.1:$port/postgres" >"$dir/url")
    echo "postgres://spiegel@127.0.0.1:$port/postgres"
}

stop() {
    local dir="$1"
    [[ -f "$dir/data/postmaster.pid" ]] || return 0
    as_owner "$(cat "$dir/bin" 2>/dev/null || bin_dir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
start) start "${2:?scripts/postgres.sh start DIR}" ;;
stop) stop "${2:?scripts/postgres.sh stop DIR}" ;;
*)
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
