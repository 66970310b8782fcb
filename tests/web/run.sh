#!/usr/bin/env bash
# tests/web/run.sh — the gateway's web page in a real browser.
#
# Starts the built `oncelink serve` on a free loopback port with a temporary data dir, then runs
# page.test.mjs (node --test) against it: headless Debian Chromium driven by playwright-core.
# Run tests/web/setup.sh first (installs chromium and playwright-core). Loopback only: works inside
# the no-network namespace of tests/with-emulators.sh too.
#
#   ONCELINK_BIN   the binary to test [default: target/debug/oncelink, built if missing]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${ONCELINK_BIN:-$repo/target/debug/oncelink}"
if [[ ! -x "$bin" ]]; then
  (cd "$repo" && cargo build -p oncelink-gateway --bin oncelink)
fi
[[ -x /usr/bin/chromium && -d "$here/node_modules/playwright-core" ]] || { echo "web tests: run tests/web/setup.sh first" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if [[ "${status:-1}" != 0 ]]; then echo "--- gateway log (tail) ---" >&2; tail -n 30 "$work/gateway.log" >&2 || true; fi
  rm -rf "$work"
}
trap 'status=$?; cleanup' EXIT

"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/gateway.log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^web page:' "$work/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "web tests: oncelink serve exited" >&2; exit 1; }
  sleep 0.1
done
page="$(sed -n 's/^web page: *//p' "$work/stdout")"
[[ -n "$page" ]] || { echo "web tests: the gateway printed no page URL" >&2; exit 1; }

cd "$here"
ONCELINK_WEB_URL="$page" ONCELINK_WEB_TMP="$work" node --test --test-reporter=spec page.test.mjs
