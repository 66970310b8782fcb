# tests/emulators/lib.sh — start/stop/probe helpers for the local AWS stand-ins.
#
# Sourced (not executed) by tests/with-emulators.sh and tests/emulators/ctl.sh after
# they have loaded $ONCELINK_TEST_RUN_DIR/config.env, which defines:
#   EMU_MOTO_BIN EMU_S3S_BIN EMU_DDB_DIR      where the programs live (see tests/setup.sh)
#   EMU_MOTO_PORT EMU_DDB_PORT EMU_S3_PORT    loopback ports
#   EMU_S3_DATA_DIR EMU_S3_ACCESS_KEY EMU_S3_SECRET_KEY
#   EMU_PG_BIN EMU_PG_PORT EMU_PG_DATA EMU_PG_SOCKET_DIR EMU_PG_USER   PostgreSQL (see pg_init)
#
# Every emulator has a pid file ($run/pids/<name>.pid) and a log ($run/logs/<name>.log).
# The pid file, not the shell's job table, is the source of truth: an emulator
# restarted by ctl.sh from inside a test is not a child of with-emulators.sh, yet
# teardown must still find and stop it.

EMU_NAMES=(moto ddb s3 pg)

emu_err() { echo "with-emulators: $*" >&2; }

emu_pidfile() { echo "$ONCELINK_TEST_RUN_DIR/pids/$1.pid"; }
emu_logfile() { echo "$ONCELINK_TEST_RUN_DIR/logs/$1.log"; }

emu_port() {
  case "$1" in
    moto) echo "$EMU_MOTO_PORT" ;;
    ddb)  echo "$EMU_DDB_PORT" ;;
    s3)   echo "$EMU_S3_PORT" ;;
    pg)   echo "$EMU_PG_PORT" ;;
    *) emu_err "unknown emulator '$1' (expected one of: ${EMU_NAMES[*]})"; return 2 ;;
  esac
}

# A string that must appear in the process's command line. Guards against pid reuse:
# we never signal a pid from a stale pid file that now belongs to something else.
emu_marker() {
  case "$1" in
    moto) echo "moto_serial.py" ;;
    ddb)  echo "DynamoDBLocal.jar" ;;
    s3)   echo "s3s-fs" ;;
    pg)   echo "bin/postgres" ;;
  esac
}

# True if pid $1 is running. A zombie (exited, not yet reaped by its parent) counts as
# dead: it holds no sockets any more, and `kill -0` alone would still succeed on it.
emu_pid_alive() {
  local pid="$1" state
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z && "$state" != X ]]
}

# Print the live pid of emulator $1, or fail.
emu_pid() {
  local pidfile pid
  pidfile="$(emu_pidfile "$1")"
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  emu_pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(emu_marker "$1")" || return 1
  echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1. Uses bash's /dev/tcp so
# it needs no extra tools; the subshell closes the socket right away.
emu_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True once emulator $1 answers HTTP. curl's --noproxy: an HTTP(S)_PROXY inherited
# from CI must never be used for loopback (and inside the namespace it is unreachable).
emu_ready() {
  local port code
  port="$(emu_port "$1")"
  case "$1" in
    # moto's own management API answers 200 once the server is fully up.
    moto) code="$(curl --noproxy '*' -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/moto-api/" || true)"
          [[ "$code" == 200 ]] ;;
    # DynamoDB Local rejects an unsigned GET / with 400: any HTTP status at all proves
    # the (slow-starting) JVM is serving requests; "000" means no connection yet.
    ddb) code="$(curl --noproxy '*' -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)"
          [[ -n "$code" && "$code" != 000 ]] ;;
    # s3s-fs serves as soon as it listens, and would log an ERROR for every unsigned
    # probe request (misleading in failure output), so a TCP connect is enough.
    s3) emu_port_open "$port" ;;
    # pg_isready: accepting connections (not merely listening while it recovers).
    pg) "$EMU_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 ;;
  esac
}

# PostgreSQL refuses to run as root: as root, run its programs as $EMU_PG_USER (setpriv
# execs, so the recorded pid is the server itself); as anyone else, as ourselves.
pg_as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    exec setpriv --reuid="$(id -u "$EMU_PG_USER")" --regid="$(id -g "$EMU_PG_USER")" --clear-groups -- "$@"
  fi
  exec "$@"
}

# A fresh cluster in $EMU_PG_DATA (once per run; ctl.sh restarts keep its data): superuser
# "oncelink", trust authentication (loopback inside the private namespace, and a socket in
# the run dir), no fsync (a test stand-in: the tests kill gateways, never the database).
pg_init() {
  local owner_dir; owner_dir="$(dirname "$EMU_PG_DATA")"
  mkdir -p "$owner_dir"
  if [[ "$(id -u)" == 0 ]]; then
    chmod 711 "$ONCELINK_TEST_RUN_DIR"   # the owner must reach its dirs inside the (0700) run dir
    chown "$EMU_PG_USER:" "$owner_dir"
  fi
  ( pg_as_owner "$EMU_PG_BIN/initdb" -D "$EMU_PG_DATA" -U oncelink --auth=trust -E UTF8 --locale=C --no-sync ) \
    >>"$(emu_logfile pg)" 2>&1 || { emu_err "initdb failed"; emu_tail pg 40; return 1; }
  cat >>"$EMU_PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $EMU_PG_PORT
unix_socket_directories = '$EMU_PG_SOCKET_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

# After the first start: the tests' database.
pg_create_db() {
  "$EMU_PG_BIN/createdb" -h "$EMU_PG_SOCKET_DIR" -p "$EMU_PG_PORT" -U oncelink oncelink \
    || { emu_err "createdb oncelink failed"; return 1; }
}

# The actual server command lines. Each runs via `exec`, so the pid recorded by the
# caller ($!) is the server itself and not a wrapper shell.
emu_exec() {
  case "$1" in
    moto)
      # Loopback only, one request at a time: moto_serial.py explains why (atomic
      # conditional writes, as on DynamoDB). python is the venv's, next to moto_server.
      exec "$(dirname "$EMU_MOTO_BIN")/python" "$(dirname "${BASH_SOURCE[0]}")/moto_serial.py" 127.0.0.1 "$EMU_MOTO_PORT" ;;
    ddb)
      # DynamoDB Local has no bind-address option: it listens on all interfaces. That is
      # why with-emulators.sh runs everything inside a private network namespace.
      #   -Djava.library.path  sqlite4java's native libraries, shipped next to the jar
      #                        (the relative path is why we cd into its folder first)
      #   -inMemory            nothing on disk, and every run starts empty
      #   -sharedDb            one database for all clients; without it DynamoDB Local keeps
      #                        a separate database per access key + region, so a test
      #                        fixture and the code under test could silently see
      #                        different tables if their credentials/regions differ
      #   -disableTelemetry    no attempt to phone home (there is no network anyway)
      cd "$EMU_DDB_DIR"
      exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
        -inMemory -sharedDb -port "$EMU_DDB_PORT" -disableTelemetry ;;
    s3)
      # s3s-fs serves each subdirectory of the data dir as a bucket and checks SigV4
      # signatures (also on presigned URLs) against this one key pair. Clients must use
      # path-style addressing (http://127.0.0.1:8014/<bucket>/<key>).
      exec "$EMU_S3S_BIN" --host 127.0.0.1 --port "$EMU_S3_PORT" \
        --access-key "$EMU_S3_ACCESS_KEY" --secret-key "$EMU_S3_SECRET_KEY" \
        "$EMU_S3_DATA_DIR" ;;
    pg)
      # Loopback and a socket in the run dir, as the cluster's owner (see pg_as_owner).
      pg_as_owner "$EMU_PG_BIN/postgres" -D "$EMU_PG_DATA" ;;
  esac
}

# The signal that stops emulator $1 promptly. PostgreSQL's SIGTERM is a "smart" shutdown
# that waits for every client (a pooled gateway never leaves): SIGINT is its fast one.
emu_stop_signal() {
  case "$1" in
    pg) echo INT ;;
    *)  echo TERM ;;
  esac
}

# Launch emulator $1 in the background (no waiting). No-op if it already runs.
emu_launch() {
  local name="$1" port log
  port="$(emu_port "$name")" || return 2
  if emu_pid "$name" >/dev/null; then return 0; fi
  if emu_port_open "$port"; then
    emu_err "cannot start $name: something already listens on 127.0.0.1:$port"
    return 1
  fi
  log="$(emu_logfile "$name")"
  echo "=== $(date -u +%FT%TZ) starting $name on port $port ===" >>"$log"
  # stdin from /dev/null and output to the log: an emulator started from inside a test
  # (via ctl.sh) must not hold the test runner's pipes open after ctl.sh returns.
  ( emu_exec "$name" ) </dev/null >>"$log" 2>&1 &
  echo "$!" >"$(emu_pidfile "$name")"
}

# Wait until emulator $1 answers, at most $2 seconds. On failure print its log tail.
emu_wait_ready() {
  local name="$1" timeout="$2" deadline pid
  deadline=$((SECONDS + timeout))
  pid="$(cat "$(emu_pidfile "$name")" 2>/dev/null)"
  while ((SECONDS < deadline)); do
    # The pid we just launched, alive: not `emu_pid`, whose command-line check fails while the
    # launching subshell has not yet exec'd the server (setpriv → postgres is two execs away).
    if ! emu_pid_alive "$pid"; then
      emu_err "$name exited during startup; last lines of $(emu_logfile "$name"):"
      emu_tail "$name" 40
      return 1
    fi
    if emu_ready "$name"; then return 0; fi
    sleep 0.2
  done
  emu_err "$name did not answer on port $(emu_port "$name") within ${timeout}s; last lines of its log:"
  emu_tail "$name" 40
  return 1
}

# Seconds to wait for each emulator to come up. The JVM (DynamoDB Local) is the slow
# one, especially on a 2-core CI box that is compiling Rust at the same time.
emu_timeout() {
  case "$1" in
    ddb) echo "${ONCELINK_EMU_DDB_TIMEOUT:-60}" ;;
    *)   echo "${ONCELINK_EMU_TIMEOUT:-30}" ;;
  esac
}

emu_start() {
  emu_launch "$1" && emu_wait_ready "$1" "$(emu_timeout "$1")"
}

# Stop emulator $1: SIGTERM, up to 10 s grace, then SIGKILL; then wait until its port
# refuses connections, so a test that stops the ledger sees "connection refused" right
# after ctl.sh returns rather than racing a half-closed listener.
emu_stop() {
  local name="$1" pid port i
  port="$(emu_port "$name")" || return 2
  if pid="$(emu_pid "$name")"; then
    kill -"$(emu_stop_signal "$name")" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do emu_pid_alive "$pid" || break; sleep 0.2; done
    if emu_pid_alive "$pid"; then
      emu_err "$name (pid $pid) ignored SIG$(emu_stop_signal "$name") for 10s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 25; i++)); do emu_pid_alive "$pid" || break; sleep 0.2; done
    fi
    echo "=== $(date -u +%FT%TZ) stopped $name ===" >>"$(emu_logfile "$name")"
  else
    rm -f "$(emu_pidfile "$name")"
    return 0   # not running (or never started): nothing of ours holds the port
  fi
  rm -f "$(emu_pidfile "$name")"
  for ((i = 0; i < 25; i++)); do emu_port_open "$port" || return 0; sleep 0.2; done
  emu_err "port $port still accepts connections after stopping $name"
  return 1
}

emu_tail() {
  local log
  log="$(emu_logfile "$1")"
  [[ -f "$log" ]] && tail -n "${2:-30}" "$log" | sed "s/^/  [$1] /" >&2
  return 0
}
