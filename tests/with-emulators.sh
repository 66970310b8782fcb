#!/usr/bin/env bash
# tests/with-emulators.sh CMD [ARGS...] — run CMD with local AWS stand-ins running.
#
#   bash tests/with-emulators.sh cargo test --workspace
#
# What it does:
#   1. runs tests/setup.sh (idempotent installs into ${ONCELINK_CACHE:-~/.cache/oncelink});
#   2. re-executes itself inside a private network namespace (see "Why a namespace");
#   3. starts, on loopback, with logs and pid files in a fresh run dir:
#        moto server       127.0.0.1:5055  DynamoDB + SSM (in memory)
#        DynamoDB Local    127.0.0.1:8000  the real DynamoDB engine (in memory)
#        s3s-fs            127.0.0.1:8014  S3 that really verifies SigV4 / presigned URLs
#        PostgreSQL        127.0.0.1:5433  a fresh cluster in the run dir (+ a Unix socket there),
#                                          database "oncelink", superuser "oncelink", trust auth
#      and waits until each answers;
#   4. runs CMD with the ONCELINK_TEST_* / AWS_* variables below exported;
#   5. always stops the emulators (normal exit, failure, SIGINT/SIGTERM/SIGHUP), prints
#      their log tails if CMD failed, and exits with CMD's exit code.
#
# Exported to CMD:
#   ONCELINK_TEST_EMULATORS=1
#   ONCELINK_TEST_MOTO_URL=http://127.0.0.1:5055        (DynamoDB + SSM endpoint)
#   ONCELINK_TEST_DDB_LOCAL_URL=http://127.0.0.1:8000   (DynamoDB endpoint)
#   ONCELINK_TEST_S3_URL=http://127.0.0.1:8014          (path-style S3 endpoint)
#   ONCELINK_TEST_S3_BUCKET=oncelink-test               (already exists, empty)
#   ONCELINK_TEST_S3_DATA_DIR=<dir>                     (bucket = <dir>/oncelink-test/)
#   ONCELINK_TEST_S3_ACCESS_KEY / ONCELINK_TEST_S3_SECRET_KEY  (the only key s3s-fs accepts)
#   ONCELINK_TEST_POSTGRES_URL=postgres://oncelink@127.0.0.1:5433/oncelink
#   ONCELINK_TEST_RUN_DIR=<dir>                         (logs/, pids/, config.env)
#   ONCELINK_TEST_CTL=<repo>/tests/emulators/ctl.sh     (ctl.sh stop|start ddb ...)
#   AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
#   AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
#   PATH gets the emulator venv's bin/ in front (python3 there has boto3).
#
# Why a namespace: DynamoDB Local cannot be told to bind to loopback — it listens on
# every interface, so on a shared box anyone on the network could talk to it while tests
# run. `unshare -n` gives this script (and CMD, and the emulators) a brand-new network
# namespace that contains nothing but its own loopback device: the emulators are
# invisible from the host, and fixed ports can't collide with anything outside. As a
# bonus, nothing inside can reach the internet, so a misconfigured client can never
# talk to a real AWS endpoint. The flip side: CMD has no network either, so fetch/build
# what it needs first (e.g. `cargo test --no-run` before `with-emulators.sh cargo test`).
#
# Knobs:
#   ONCELINK_NO_NETNS=1      skip the namespace (where unshare is not permitted); the
#                            emulators then share the host's network: ports must be free,
#                            and DynamoDB Local is reachable from the network (warned).
#   ONCELINK_SKIP_SETUP=1    don't run tests/setup.sh (you ran it already).
#   ONCELINK_KEEP_RUN_DIR=1  keep the run dir (logs, S3 data) even when CMD succeeded.
#   ONCELINK_EMU_DDB_TIMEOUT / ONCELINK_EMU_TIMEOUT   startup timeouts (60 s / 30 s).
#   ONCELINK_MOTO_PORT / ONCELINK_DDB_PORT / ONCELINK_S3_PORT / ONCELINK_PG_PORT  ports
#                            (useful with NO_NETNS).
#   PostgreSQL runs as the "postgres" user (or "nobody") when this script runs as root: it
#   refuses to run as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/with-emulators.sh"
die() { echo "with-emulators: error: $*" >&2; exit 1; }
note() { echo "with-emulators: $*" >&2; }

[[ $# -ge 1 ]] || { sed -n '2,4s/^# \{0,1\}//p' "$self" >&2; exit 2; }

# Nested use (CMD itself calls with-emulators.sh): the emulators are already up, reuse them.
if [[ "${ONCELINK_TEST_EMULATORS:-}" == 1 && -f "${ONCELINK_TEST_RUN_DIR:-/nonexistent}/config.env" ]]; then
  exec "$@"
fi

# ---- stage 1: on the host --------------------------------------------------------------
# ONCELINK_EMU_STAGE tells the re-executed copy of this script where it is.
if [[ -z "${ONCELINK_EMU_STAGE:-}" ]]; then
  # Installs need the package registries, so they must happen before we lose the network.
  # setup.sh's summary goes to stderr to keep CMD's stdout clean.
  if [[ "${ONCELINK_SKIP_SETUP:-}" != 1 ]]; then
    bash "$here/setup.sh" >&2
  fi

  if [[ "${ONCELINK_NO_NETNS:-}" != 1 ]]; then
    # As root a plain network namespace is allowed. As a normal user we also need a user
    # namespace (-r maps us to root inside it) to be allowed to create one.
    if [[ "$(id -u)" == 0 ]]; then unshare_args=(--net); else unshare_args=(--map-root-user --net); fi
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) not found; install it or set ONCELINK_NO_NETNS=1"
    if ! err="$(unshare "${unshare_args[@]}" true 2>&1)"; then
      die "cannot create a private network namespace: 'unshare ${unshare_args[*]}' failed: $err
  Set ONCELINK_NO_NETNS=1 to run the emulators on the host's loopback instead
  (then DynamoDB Local listens on all interfaces while tests run)."
    fi
    export ONCELINK_EMU_STAGE=netns
    # unshare execs bash, so this process's pid (and any signals sent to it) carry over.
    exec unshare "${unshare_args[@]}" -- "$BASH" "$self" "$@"
  fi
  export ONCELINK_EMU_STAGE=host
fi

# ---- stage 2: in the namespace (or on the host with ONCELINK_NO_NETNS=1) ----------------
if [[ "$ONCELINK_EMU_STAGE" == netns ]]; then
  # A new namespace's loopback starts DOWN; nothing can even connect to 127.0.0.1 until
  # we bring it up.
  command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found; needed to bring up loopback in the namespace"
  ip link set lo up
  # Belt and braces: the namespace must hold no interface but lo.
  others="$(ip -o link show | awk -F': ' '$2 != "lo" {print $2}')"
  [[ -z "$others" ]] || die "network namespace unexpectedly has interfaces: $others"
else
  note "WARNING: ONCELINK_NO_NETNS=1 — emulators run on the host network, not isolated;" \
       "DynamoDB Local will listen on ALL interfaces (port ${ONCELINK_DDB_PORT:-8000}) while tests run."
fi

cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
ddb_dir="$(cat "$cache/dynamodb-local/DYNAMODB_LOCAL_DIR" 2>/dev/null)" \
  || die "DynamoDB Local not installed in $cache (run tests/setup.sh)"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[[ -x "$pg_bin/postgres" ]] || die "PostgreSQL not installed (/usr/lib/postgresql/*/bin/postgres; run tests/setup.sh)"
if id -u postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/oncelink-emulators.XXXXXX")"
mkdir -p "$run_dir/logs" "$run_dir/pids" "$run_dir/s3-data/oncelink-test"
export ONCELINK_TEST_RUN_DIR="$run_dir"

# config.env: everything ctl.sh needs to start/stop emulators later, from inside CMD.
{
  printf 'EMU_MOTO_BIN=%q\n'      "$cache/venv/bin/moto_server"
  printf 'EMU_S3S_BIN=%q\n'       "$cache/s3s-fs/bin/s3s-fs"
  printf 'EMU_DDB_DIR=%q\n'       "$ddb_dir"
  printf 'EMU_MOTO_PORT=%q\n'     "${ONCELINK_MOTO_PORT:-5055}"
  printf 'EMU_DDB_PORT=%q\n'      "${ONCELINK_DDB_PORT:-8000}"
  printf 'EMU_S3_PORT=%q\n'       "${ONCELINK_S3_PORT:-8014}"
  printf 'EMU_S3_DATA_DIR=%q\n'   "$run_dir/s3-data"
  printf 'EMU_S3_ACCESS_KEY=%q\n' "AKIDONCELINKTEST"
  printf 'EMU_S3_SECRET_KEY=%q\n' "oncelink-test-secret"
  printf 'EMU_PG_BIN=%q\n'        "$pg_bin"
  printf 'EMU_PG_PORT=%q\n'       "${ONCELINK_PG_PORT:-5433}"
  printf 'EMU_PG_DATA=%q\n'       "$run_dir/pg/data"
  printf 'EMU_PG_SOCKET_DIR=%q\n' "$run_dir/pg"
  printf 'EMU_PG_USER=%q\n'       "$pg_user"
} >"$run_dir/config.env"
# shellcheck source=/dev/null
source "$run_dir/config.env"
# shellcheck source=tests/emulators/lib.sh
source "$here/emulators/lib.sh"

cmd_pid=""
rc=0
cleanup() {
  rc=$?
  trap - EXIT INT TERM HUP
  set +e
  # If we are here because of a signal, CMD may still be running: stop it first.
  if [[ -n "$cmd_pid" ]] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null
    for _ in {1..50}; do emu_pid_alive "$cmd_pid" || break; sleep 0.2; done
    kill -KILL "$cmd_pid" 2>/dev/null
  fi
  for n in "${EMU_NAMES[@]}"; do emu_stop "$n" >/dev/null 2>&1 || note "could not stop $n cleanly"; done
  if [[ "$rc" != 0 ]]; then
    if [[ -n "$cmd_pid" ]]; then what="command failed (exit $rc)"; else what="emulators failed to start"; fi
    note "$what; emulator log tails follow (full logs: $run_dir/logs/)"
    for n in "${EMU_NAMES[@]}"; do emu_tail "$n" 30; done
  elif [[ "${ONCELINK_KEEP_RUN_DIR:-}" == 1 ]]; then
    note "run dir kept: $run_dir"
  else
    rm -rf "$run_dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap runs. 128+N like a shell would report.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- start the emulators -----------------------------------------------------------------
started=$SECONDS
if [[ "$ONCELINK_EMU_STAGE" == host ]]; then
  # Bind check: on the shared host network a port may already be taken (by another test
  # run, a real DynamoDB Local, ...). Fail early with a clear message instead of testing
  # against a stranger's server.
  for n in "${EMU_NAMES[@]}"; do
    p="$(emu_port "$n")"
    ! emu_port_open "$p" || die "port $p (for $n) is already in use on this host; set ONCELINK_${n^^}_PORT to another port"
  done
fi
# Launch all at once (the JVM dominates startup), then wait for each.
pg_init || exit 1
for n in "${EMU_NAMES[@]}"; do emu_launch "$n" || exit 1; done
for n in "${EMU_NAMES[@]}"; do emu_wait_ready "$n" "$(emu_timeout "$n")" || exit 1; done
pg_create_db || exit 1
if [[ "$ONCELINK_EMU_STAGE" == host ]] && command -v ss >/dev/null 2>&1; then
  # Report what is listening beyond loopback (DynamoDB Local will be).
  wide="$(ss -Hltn "( sport = :$EMU_MOTO_PORT or sport = :$EMU_DDB_PORT or sport = :$EMU_S3_PORT or sport = :$EMU_PG_PORT )" \
          | awk '{print $4}' | grep -vE '^(127\.[0-9.]+|\[::1\]):' || true)"
  [[ -z "$wide" ]] || note "WARNING: listening beyond loopback: $(echo $wide)"
fi
note "emulators up in $((SECONDS - started))s (moto :$EMU_MOTO_PORT, DynamoDB Local :$EMU_DDB_PORT, s3s-fs :$EMU_S3_PORT, PostgreSQL :$EMU_PG_PORT; network: $ONCELINK_EMU_STAGE); run dir $run_dir"

# ---- environment for CMD -----------------------------------------------------------------
export ONCELINK_TEST_EMULATORS=1
export ONCELINK_TEST_MOTO_URL="http://127.0.0.1:$EMU_MOTO_PORT"
export ONCELINK_TEST_DDB_LOCAL_URL="http://127.0.0.1:$EMU_DDB_PORT"
export ONCELINK_TEST_S3_URL="http://127.0.0.1:$EMU_S3_PORT"
export ONCELINK_TEST_S3_BUCKET=oncelink-test
export ONCELINK_TEST_S3_DATA_DIR="$EMU_S3_DATA_DIR"
export ONCELINK_TEST_S3_ACCESS_KEY="$EMU_S3_ACCESS_KEY"
export ONCELINK_TEST_S3_SECRET_KEY="$EMU_S3_SECRET_KEY"
export ONCELINK_TEST_POSTGRES_URL="postgres://oncelink@127.0.0.1:$EMU_PG_PORT/oncelink"
export ONCELINK_TEST_CTL="$here/emulators/ctl.sh"
export ONCELINK_CACHE="$cache"
# Static dummy credentials for moto / DynamoDB Local (they accept any key). Clear every
# variable that could make an SDK pick up a developer's real profile, session or endpoint
# override, and point the shared config/credentials files at nothing.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
      AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_ENDPOINT_URL
while read -r v; do unset "$v"; done < <(compgen -e | grep '^AWS_ENDPOINT_URL_' || true)
export AWS_CONFIG_FILE="$run_dir/no-aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$run_dir/no-aws-credentials"
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1      # boto3 reads this one
export AWS_EC2_METADATA_DISABLED=true    # never probe 169.254.169.254 for credentials
# Loopback must never go through an inherited HTTP proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export PATH="$cache/venv/bin:$PATH"
unset ONCELINK_EMU_STAGE

# ---- run CMD -------------------------------------------------------------------------------
# CMD runs in the background so that a signal to this script runs the trap immediately
# (bash defers traps while a foreground child runs). A background job's stdin would be
# /dev/null, so hand it ours explicitly via fd 3.
exec 3<&0
set +e
"$@" <&3 3<&- &
cmd_pid=$!
exec 3<&-
wait "$cmd_pid"
rc=$?
set -e
exit "$rc"
