#!/usr/bin/env bash
# A real Keycloak for the OIDC provider's integration tests (the DataChain case, see
# ../../shared/research/providers.md §2). Everything lives under .cache/keycloak/.
#
#   scripts/keycloak.sh install   fetch the dist from Maven Central and unzip it (cached)
#   scripts/keycloak.sh start     start-dev on 127.0.0.1:$KEYCLOAK_PORT in the background
#   scripts/keycloak.sh stop      stop the instance this script started
#   scripts/keycloak.sh status    exit 0 when the instance answers
#   scripts/keycloak.sh check     print why Keycloak cannot run here (exit 1), or nothing
#   scripts/keycloak.sh java-home print the JDK 21+ it would use (scripts/image.sh keycloak)
#
# Environment: KEYCLOAK_VERSION (26.5.6), KEYCLOAK_PORT (18180),
# KEYCLOAK_START_TIMEOUT seconds (300), KEYCLOAK_JAVA_HOME (a JDK 21+; found if unset),
# KEYCLOAK_JAVA_OPTS_APPEND (replaces the JVM start-up tuning below).
set -euo pipefail
source "$(dirname "$0")/env.sh"

KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.5.6}"
KEYCLOAK_PORT="${KEYCLOAK_PORT:-18180}"
KEYCLOAK_START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-300}"
KC_BASE="$TOKEN_OPERATOR_ROOT/.cache/keycloak"
KC_HOME="$KC_BASE/keycloak-$KEYCLOAK_VERSION"
M2="$TOKEN_OPERATOR_ROOT/.cache/m2"
PID_FILE="$KC_BASE/keycloak-$KEYCLOAK_PORT.pid"
LOG_FILE="$KC_BASE/keycloak-$KEYCLOAK_PORT.log"
URL="http://127.0.0.1:$KEYCLOAK_PORT"

# Keycloak 26 needs Java 21+; the machine's default java is 17.
java_major() { "$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p'; }
find_java_home() {
  local candidates=()
  [ -n "${KEYCLOAK_JAVA_HOME:-}" ] && candidates+=("$KEYCLOAK_JAVA_HOME")
  candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64)
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  local d
  for d in /usr/lib/jvm/*; do candidates+=("$d"); done
  for d in "${candidates[@]}"; do
    if [ -x "$d/bin/java" ] && [ "$(java_major "$d")" -ge 21 ] 2>/dev/null; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

answers() { curl -fs -o /dev/null --max-time 2 "$URL/realms/master"; }

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_check() {
  if ! find_java_home >/dev/null; then
    echo "no JDK 21+ found (Keycloak 26 needs one; set KEYCLOAK_JAVA_HOME)"
    return 1
  fi
  if [ ! -x "$KC_HOME/bin/kc.sh" ] && ! command -v mvn >/dev/null; then
    echo "Keycloak $KEYCLOAK_VERSION is not installed and mvn is missing to fetch it"
    return 1
  fi
}

cmd_install() {
  if [ -x "$KC_HOME/bin/kc.sh" ]; then return 0; fi
  local started=$SECONDS
  local zip="$M2/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  if [ ! -f "$zip" ]; then
    mvn -q -B -Dmaven.repo.local="$M2" dependency:get \
      -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" -Dtransitive=false
  fi
  mkdir -p "$KC_BASE"
  # unzip next to the target and rename, so an interrupted unzip never looks installed
  local tmp
  tmp=$(mktemp -d "$KC_BASE/.unzip.XXXXXX")
  unzip -q "$zip" -d "$tmp"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME"
  rmdir "$tmp"
  echo "Keycloak $KEYCLOAK_VERSION installed in $((SECONDS - started))s: $KC_HOME"
}

cmd_start() {
  if running_pid >/dev/null && answers; then
    echo "Keycloak already running on $URL (pid $(cat "$PID_FILE"))"
    return 0
  fi
  if answers; then
    echo "something already answers on $URL; not starting another Keycloak" >&2
    return 1
  fi
  cmd_install
  local java_home
  java_home=$(find_java_home) || { cmd_check >&2; return 1; }
  local started=$SECONDS
  rm -f "$PID_FILE"
  # Tuned for a 2-core test box, where most of the start is class loading and JIT
  # (warm starts measured on 2 cores, JDK 25):
  # - a dynamic class-data-sharing archive, written at the first clean stop and
  #   rebuilt by the JVM itself when the JDK or the dist changes: 12-13 s instead of
  #   16-24 s on an idle machine, ~35 s instead of ~55 s next to a busy Go build.
  # - C1 only (TieredStopAtLevel=1): no gain on an idle machine, but 25-42 s instead of
  #   ~60 s while another build competes for the cores; peak throughput does not
  #   matter for a few hundred test requests.
  # - dev-mem database: every start is a fresh, empty server (tests make their own
  #   random realms), and the bootstrap admin below is always created.
  # - start-dev already uses a local (non-clustered) cache; KC_CACHE=local says so.
  # - trimming --features-disabled made no measurable difference: defaults kept, so
  #   the server behaves like a production one.
  # Build-time options (db, features) must stay the same between starts, or kc.sh
  # re-augments the server first (exit code 10 + relaunch), which costs ~16 s; the
  # first start after install always pays it.
  (
    cd "$KC_HOME"
    export JAVA_HOME="$java_home"
    export JAVA_OPTS_KC_HEAP="-Xms128m -Xmx768m"
    export JAVA_OPTS_APPEND="${KEYCLOAK_JAVA_OPTS_APPEND-"-XX:TieredStopAtLevel=1 -XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=$KC_BASE/keycloak-$KEYCLOAK_VERSION.jsa"}"
    export KC_CACHE=local
    export KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin
    # a new session, so stop can signal kc.sh and its java child as one group; the
    # session leader writes its own pid (setsid may fork, so $! is not it)
    exec setsid bash -c 'echo $$ >"$0"; exec bin/kc.sh "$@"' "$PID_FILE" start-dev \
      --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT" \
      --db=dev-mem \
      </dev/null >"$LOG_FILE" 2>&1
  ) &
  local pid="" i
  for i in $(seq 1 50); do
    pid=$(cat "$PID_FILE" 2>/dev/null || true)
    [ -n "$pid" ] && break
    sleep 0.2
  done
  if [ -z "$pid" ]; then
    echo "Keycloak did not launch; log: $LOG_FILE" >&2
    return 1
  fi
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "Keycloak exited during start; last log lines ($LOG_FILE):" >&2
      tail -n 30 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      return 1
    fi
    if [ $((SECONDS - started)) -ge "$KEYCLOAK_START_TIMEOUT" ]; then
      echo "Keycloak not ready after ${KEYCLOAK_START_TIMEOUT}s; stopping it. Log: $LOG_FILE" >&2
      cmd_stop >&2
      return 1
    fi
    sleep 1
  done
  echo "Keycloak $KEYCLOAK_VERSION ready on $URL in $((SECONDS - started))s (pid $pid, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    echo "Keycloak not running"
    return 0
  fi
  # setsid made the kc.sh process a group leader: its group is kc.sh plus its java child
  kill -TERM -- "-$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  echo "Keycloak stopped (pid $pid)"
}

cmd_status() {
  if answers; then echo "Keycloak answers on $URL"; else echo "Keycloak not answering on $URL"; return 1; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  check) cmd_check ;;
  java-home) find_java_home ;;
  *)
    echo "usage: $0 install|start|stop|status|check|java-home" >&2
    exit 2
    ;;
esac
