#!/usr/bin/env bash
# tests/emulators/ctl.sh — stop/start one emulator while tests run.
#
#   ctl.sh stop   moto|ddb|s3|pg|all   SIGTERM it and wait until its port refuses connections
#   ctl.sh start  moto|ddb|s3|pg|all   start it again on the same port and wait until it answers
#   ctl.sh restart moto|ddb|s3|pg|all
#   ctl.sh status [moto|ddb|s3|pg|all] print "<name> up|down <port> [pid]" (exit 1 if any is down)
#
# Only works under tests/with-emulators.sh, which exports ONCELINK_TEST_RUN_DIR (pid
# files, logs, config) and the path of this script as ONCELINK_TEST_CTL. Typical use
# from a Rust test that checks "ledger unreachable -> 503":
#
#   Command::new(env::var("ONCELINK_TEST_CTL")?).args(["stop", "ddb"]).status()?;
#   ... exercise the handler, expect 503 ...
#   Command::new(env::var("ONCELINK_TEST_CTL")?).args(["start", "ddb"]).status()?;
#
# State after `start`: moto and DynamoDB Local run in memory, so they come back EMPTY
# (recreate tables/parameters). s3s-fs keeps its objects: they are files in
# $ONCELINK_TEST_S3_DATA_DIR. PostgreSQL (pg) keeps its database: its cluster is a
# directory in the run dir, stopped with a fast shutdown (clients are disconnected).
#
# Tests that stop an emulator share it with every other test in the same process, so
# run them serially (e.g. a dedicated test binary, or a lock around them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ONCELINK_TEST_RUN_DIR:?ctl.sh only works under tests/with-emulators.sh (ONCELINK_TEST_RUN_DIR is not set)}"
[[ -f "$ONCELINK_TEST_RUN_DIR/config.env" ]] \
  || { echo "ctl.sh: $ONCELINK_TEST_RUN_DIR/config.env is missing (emulators already torn down?)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$ONCELINK_TEST_RUN_DIR/config.env"
# shellcheck source=tests/emulators/lib.sh
source "$here/lib.sh"

usage() { sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

action="${1:-}"
target="${2:-all}"
[[ -n "$action" ]] || usage
if [[ "$target" == all ]]; then names=("${EMU_NAMES[@]}"); else names=("$target"); emu_port "$target" >/dev/null || exit 2; fi

rc=0
case "$action" in
  stop)    for n in "${names[@]}"; do emu_stop "$n" || rc=1; done ;;
  start)   for n in "${names[@]}"; do emu_launch "$n" || rc=1; done
           for n in "${names[@]}"; do emu_wait_ready "$n" "$(emu_timeout "$n")" || rc=1; done ;;
  restart) for n in "${names[@]}"; do emu_stop "$n" || rc=1; done
           for n in "${names[@]}"; do emu_start "$n" || rc=1; done ;;
  status)  for n in "${names[@]}"; do
             if pid="$(emu_pid "$n")"; then echo "$n up $(emu_port "$n") $pid"; else echo "$n down $(emu_port "$n")"; rc=1; fi
           done ;;
  *) usage ;;
esac
exit "$rc"
