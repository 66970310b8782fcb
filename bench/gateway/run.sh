#!/usr/bin/env bash
# bench/gateway/run.sh — the gateway under load; writes $BENCH_OUT/gateway.json.
#
#   bash bench/gateway/run.sh        (called by bench/run.sh; runs on its own too)
#
#   1. wrk (Debian package, installed if missing) and a release build of the gateway;
#   2. a gateway on a loopback port with the embedded durable ledger (redb) and origin (s3s-fs);
#      a small object stored through it; links issued through the issue API for ISSUE_SECONDS
#      (wrk POST, issue.lua saves each link);
#   3. wrk runs of BENCH_SECONDS each: first uses (walk.lua: every GET a different fresh link),
#      denials (the same, now spent, links again → 403), healthz (the peer without ledger/origin);
#   4. a 1 GiB object on a standalone s3s-fs: downloaded through a gateway (--origin-endpoint)
#      and straight from s3s-fs with a presigned URL;
#   5. report.py → gateway.json.
# Loopback only; every run is bounded in seconds, the issued links bound the first-use count.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/bench/gateway"
cd "$repo"
export BENCH_OUT="${BENCH_OUT:-$repo/target/bench-results}"
seconds="${BENCH_SECONDS:-10}"
issue_seconds="${ISSUE_SECONDS:-15}"
warmup=2
threads=2
connections="${BENCH_CONNECTIONS:-64}"
s3s_fs="${ONCELINK_CACHE:-$HOME/.cache/oncelink}/s3s-fs/bin/s3s-fs"
mkdir -p "$BENCH_OUT"
step() { echo "==== gateway bench: $* ($(date -u +%H:%M:%S))"; }

# --- 1. tools ----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  step "installing wrk"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
[ -x "$s3s_fs" ] || { echo "s3s-fs not found at $s3s_fs (run tests/setup.sh)" >&2; exit 1; }
step "build (release, symbols kept for the profile)"
# The release profile (same optimisation), but not stripped and with line tables, so that the
# first-use run can be profiled; its own target dir keeps target/release untouched.
CARGO_TARGET_DIR="$repo/target/profiling" CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked -p oncelink-gateway --bin oncelink
oncelink="$repo/target/profiling/release/oncelink"
# perf with the cpu-clock software event works in VMs without hardware counters.
profile=0
if command -v perf >/dev/null && perf stat -e cpu-clock true >/dev/null 2>&1; then profile=1; fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url: up to 20 s
  for _ in $(seq 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing answers at $1" >&2; return 1
}
run_wrk() { # name script seconds, extra env for the script
  local name="$1" script="$2" secs="$3"
  WRK_THREADS=$threads wrk -t"$threads" -c"$connections" -d"${secs}s" --timeout 10s --latency -s "$script" "$base" | tee "$work/$name.txt"
}

# --- 2. gateway with the embedded ledger and origin ---------------------------------------------
step "gateway (embedded ledger + origin)"
port="$(free_port)"
base="http://127.0.0.1:$port"
"$oncelink" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!
wait_http "$base/_oncelink/healthz"
key="bench/small.txt"
echo "a small object: the first-use run measures the link check, not the transfer" >"$work/small.txt"
"$oncelink" put "$work/small.txt" --key "$key" --data-dir "$work/data" --gateway "$base" >/dev/null

step "issue links for ${issue_seconds}s"
mkdir -p "$work/links"
ONCELINK_TOKEN="$(cat "$work/data/api-token")" ONCELINK_KEY="$key" LINKS_DIR="$work/links" \
  wrk -t"$threads" -c"$connections" -d"${issue_seconds}s" -s "$here/issue.lua" "$base" | tee "$work/issue.txt"
# The first 2000 links are spent up front (3 s round and round, so none is left half-used by a
# connection closed mid-request) for the denial run; the rest are fresh.
cat "$work"/links/links.*.txt >"$work/all.txt"
head -n 2000 "$work/all.txt" >"$work/spent.txt"
tail -n +2001 "$work/all.txt" >"$work/links.txt"
wc -l <"$work/links.txt" | tr -d ' ' >"$work/links.count"
echo "links issued: $(wc -l <"$work/all.txt"), fresh for the first-use run: $(cat "$work/links.count")"
LINKS_FILE="$work/spent.txt" WRAP=1 WRK_THREADS=$threads wrk -t"$threads" -c"$connections" -d3s -s "$here/walk.lua" "$base" >/dev/null

# --- 3. load -----------------------------------------------------------------------------------
step "warm-up (${warmup}s healthz)"
wrk -t"$threads" -c"$connections" -d"${warmup}s" "$base/_oncelink/healthz" >/dev/null
step "first uses (${seconds}s)"
if [ "$profile" = 1 ]; then
  # Sampled while wrk runs: where the gateway's CPU goes on the first-use path.
  perf record -q -e cpu-clock -g -p "$gateway_pid" -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
  perf_pid=$!
fi
LINKS_FILE="$work/links.txt" WRAP=0 run_wrk first "$here/walk.lua" "$seconds"
if [ "$profile" = 1 ]; then
  wait "$perf_pid" || true
  { perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -E '^ +[0-9]' | head -4
    perf report -i "$work/perf.data" --stdio --children --sort sym -g none 2>/dev/null |
      grep -E '\] (__x64_sys_futex|do_fsync|epoll_wait|__libc_open|statx|malloc|s3s_fs::|oncelink::|redb::)' | head -12
  } >"$work/profile.txt" || true
  cat "$work/profile.txt"
fi
step "denials (${seconds}s)"
LINKS_FILE="$work/spent.txt" WRAP=1 run_wrk denied "$here/walk.lua" "$seconds"
step "healthz (${seconds}s)"
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$base/_oncelink/healthz" | tee "$work/health.txt"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

# --- 4. 1 GiB through the gateway vs straight from the origin --------------------------------------
step "1 GiB download"
s3_port="$(free_port)"
access=benchaccess secret=benchsecret bucket=bench big="big/1gib.bin"
mkdir -p "$work/s3/$bucket/big"
head -c 1073741824 /dev/urandom >"$work/s3/$bucket/$big"
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key "$access" --secret-key "$secret" "$work/s3" >"$work/s3s-fs.log" 2>&1 &
pids+=($!)
port="$(free_port)"
base="http://127.0.0.1:$port"
AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_EC2_METADATA_DISABLED=true \
  "$oncelink" serve --data-dir "$work/data2" --listen "127.0.0.1:$port" \
  --origin-endpoint "http://127.0.0.1:$s3_port" --bucket "$bucket" --region us-east-1 >"$work/gateway2.log" 2>&1 &
pids+=($!)
wait_http "$base/_oncelink/healthz"
link="$(curl -fsS -H "Authorization: Bearer $(cat "$work/data2/api-token")" -d "{\"key\":\"$big\"}" "$base/_oncelink/links" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')"
direct="$(python3 "$here/presign.py" "http://127.0.0.1:$s3_port" "$bucket" "$big" "$access" "$secret")"
cat "$work/s3/$bucket/$big" >/dev/null # page cache warm for both
mbps() { # url → MB/s, and checks the whole GiB arrived
  curl -fsS -o /dev/null -w '%{size_download} %{speed_download}\n' "$1" |
    awk '$1 != 1073741824 { print "short download: " $1 " bytes" > "/dev/stderr"; exit 1 } { printf "%.1f\n", $2 / 1e6 }'
}
mbps "$direct" >"$work/origin.mbps"
mbps "$link" >"$work/gateway.mbps"
echo "plain origin $(cat "$work/origin.mbps") MB/s, gateway $(cat "$work/gateway.mbps") MB/s"
rm -f "$work/s3/$bucket/$big"

# --- 5. result ---------------------------------------------------------------------------------
printf '{"threads": %d, "connections": %d, "seconds": %d, "warmup": %d, "cores": %d}\n' \
  "$threads" "$connections" "$seconds" "$warmup" "$(nproc)" >"$work/settings.json"
python3 "$here/report.py" "$work" "$BENCH_OUT/gateway.json"
echo "wrote $BENCH_OUT/gateway.json"
