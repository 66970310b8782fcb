#!/usr/bin/env bash
# tests/web/run.sh — the gateway's web page in a real browser.
#
# Starts the built `oncelink serve` three times on free loopback ports with temporary data dirs
# (the default gateway, one with --inline-active-content true, and one serving TLS with a
# self-signed certificate made here by openssl), then runs page.test.mjs and confirm.test.mjs
# (confirm links: a scanner spends nothing, a click downloads once) (node --test) against them: headless Debian Chromium driven by playwright-core. The tests get
# each page's URL and the API token from its data dir (the banner does not print it: stdout is
# not a terminal). Run tests/web/setup.sh first (installs chromium and playwright-core).
# Loopback only: works inside the no-network namespace of tests/with-emulators.sh too.
#
#   ONCELINK_BIN   the binary to test [default: target/debug/oncelink, built if missing]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${ONCELINK_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/oncelink}"
if [[ ! -x "$bin" ]]; then
  (cd "$repo" && cargo build -p oncelink-gateway --bin oncelink)
fi
[[ -x /usr/bin/chromium && -d "$here/node_modules/playwright-core" ]] || { echo "web tests: run tests/web/setup.sh first" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  if [[ "${status:-1}" != 0 ]]; then
    for log in "$work"/*.log; do echo "--- $(basename "$log") (tail) ---" >&2; tail -n 30 "$log" >&2 || true; done
  fi
  rm -rf "$work"
}
trap 'status=$?; cleanup' EXIT

# start NAME [serve flags…]: a gateway on data dir $work/NAME; sets page_url to its page's URL.
start() {
  local name="$1"; shift
  "$bin" serve --data-dir "$work/$name" --listen 127.0.0.1:0 "$@" >"$work/$name.stdout" 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    grep -q '^stop with' "$work/$name.stdout" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "web tests: oncelink serve ($name) exited" >&2; exit 1; }
    sleep 0.1
  done
  page_url="$(sed -n 's/^web page: *//p' "$work/$name.stdout")"
  [[ -n "$page_url" && -s "$work/$name/api-token" ]] || { echo "web tests: the $name gateway printed no page URL or stored no token" >&2; exit 1; }
}

start default
page="$page_url"
start inline --inline-active-content true
inline_page="$page_url"
# TLS (ALPN h2 + http/1.1) with a throwaway self-signed certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
start tls --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
tls_page="$page_url"

cd "$here"
ONCELINK_WEB_URL="$page" ONCELINK_WEB_TOKEN="$(cat "$work/default/api-token")" \
ONCELINK_WEB_INLINE_URL="$inline_page" ONCELINK_WEB_INLINE_TOKEN="$(cat "$work/inline/api-token")" \
ONCELINK_WEB_TLS_URL="$tls_page" ONCELINK_WEB_TLS_TOKEN="$(cat "$work/tls/api-token")" \
ONCELINK_WEB_STDOUT="$work/default.stdout" ONCELINK_WEB_LOG="$work/default.log" \
  node --test --test-concurrency=1 --test-reporter=spec page.test.mjs confirm.test.mjs
