#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) on 127.0.0.1 for the tests.
#
#   scripts/kafka.sh start DIR   starts it with its data and log in DIR; prints host:port and
#                                writes it to DIR/bootstrap
#   scripts/kafka.sh stop DIR    stops it
#
# The broker comes from its official artifacts on Maven Central (org.apache.kafka:kafka_2.13
# and its runtime dependencies, fetched once with mvn into the cache) and runs on the machine's
# Java (17 or later).
set -euo pipefail
# shellcheck source=scripts/pidfile.sh
source "$(dirname "$0")/pidfile.sh"

KAFKA_VERSION=4.4.0
cache="${SPIEGEL_CACHE:-$HOME/.cache/spiegel}/kafka-$KAFKA_VERSION"

install() {
    if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            echo "== installing Java 17 and Maven (apt-get)" >&2
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >&2
        else
            echo "kafka.sh: Java 17 and Maven are needed (apt-get install openjdk-17-jre-headless maven)" >&2
            exit 1
        fi
    fi
    [[ -f "$cache/.complete" ]] && return
    echo "== fetching Apache Kafka $KAFKA_VERSION from Maven Central into $cache" >&2
    mkdir -p "$cache"
    cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>spiegel.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    rm -rf "$cache/libs"
    mvn -B -q -f "$cache/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$cache/libs" -DincludeScope=runtime >&2
    touch "$cache/.complete"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir="$1"
    install
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local port controller
    port="$(free_port)"
    controller="$(free_port)"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
    local cp="$cache/libs/*"
    java -cp "$cp" kafka.tools.StorageTool format \
        -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
        -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
        { echo "kafka.sh: formatting the broker's storage failed:" >&2; cat "$dir/format.log" >&2; exit 1; }
    nohup java -Xms256m -Xmx768m -cp "$cp" kafka.Kafka "$dir/server.properties" \
        >"$dir/broker.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 120); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "127.0.0.1:$port" >"$dir/bootstrap"
            echo "127.0.0.1:$port"
            return
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "kafka.sh: the broker exited; see $dir/broker.log" >&2
            tail -20 "$dir/broker.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "kafka.sh: the broker did not listen within 60 s; see $dir/broker.log" >&2
    exit 1
}

stop() {
    stop_pidfile "$1"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:?usage: kafka.sh start DIR}" ;;
    stop) stop "${2:?usage: kafka.sh stop DIR}" ;;
    *) echo "usage: scripts/kafka.sh install | start DIR | stop DIR" >&2; exit 2 ;;
esac
