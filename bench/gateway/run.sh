#!/usr/bin/env bash
# bench/gateway/run.sh — the gateway under load; writes $BENCH_OUT/gateway.json.
#
#   bash bench/gateway/run.sh        (called by bench/run.sh; runs on its own too)
#
#   1. wrk and nginx (Debian packages, installed if missing) and a release build of the gateway;
#   2. a gateway on a loopback port on embedded defaults: the durable ledger (journal, group commit)
#      and the data dir's files as the origin; a small object stored through it; links issued
#      through the issue API for ISSUE_SECONDS (wrk POST, issue.lua saves each link);
#   3. wrk runs of BENCH_SECONDS each: first uses (walk.lua: every GET a different fresh link),
#      denials (the same, now spent, links again → 403), healthz (no ledger, no origin);
#   4. the peer: nginx (Debian's, 2 workers) serving the same objects dir, the same small file
#      under the same wrk settings, with its access log on as the gateway's is;
#   5. a 1 GiB object in the same objects dir: downloaded through a gateway link, and from nginx
#      (three rounds, alternating; the medians);
#   6. report.py → gateway.json.
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
mkdir -p "$BENCH_OUT"
step() { echo "==== gateway bench: $* ($(date -u +%H:%M:%S))"; }

# --- 1. tools ----------------------------------------------------------------------------------
for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
    step "installing $tool"
    apt-get install -y "$tool" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
  fi
done
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
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
# The last 60,000 are kept for the profiled run; the rest are the measured run's.
tail -n +2001 "$work/all.txt" | head -n -60000 >"$work/links.txt"
tail -n 60000 "$work/all.txt" >"$work/profile-links.txt"
wc -l <"$work/links.txt" | tr -d ' ' >"$work/links.count"
echo "links issued: $(wc -l <"$work/all.txt"), fresh for the first-use run: $(cat "$work/links.count") (and 60000 for the profiled one)"
LINKS_FILE="$work/spent.txt" WRAP=1 WRK_THREADS=$threads wrk -t"$threads" -c"$connections" -d3s -s "$here/walk.lua" "$base" >/dev/null

# --- 3. load -----------------------------------------------------------------------------------
step "warm-up (${warmup}s healthz)"
wrk -t"$threads" -c"$connections" -d"${warmup}s" "$base/_oncelink/healthz" >/dev/null
step "first uses (${seconds}s)"
LINKS_FILE="$work/links.txt" WRAP=0 run_wrk first "$here/walk.lua" "$seconds"
if [ "$profile" = 1 ]; then
  # A second, shorter run on links of its own, sampled (perf costs the gateway CPU, so the
  # measured run above is not sampled): where the CPU of a first use goes, by thread, binary
  # and function.
  step "first uses again, profiled (3s)"
  perf record -q -e cpu-clock -g -p "$gateway_pid" -o "$work/perf.data" -- sleep 3 >/dev/null 2>&1 &
  perf_pid=$!
  LINKS_FILE="$work/profile-links.txt" WRAP=0 run_wrk first-profiled "$here/walk.lua" 3 >/dev/null
  wait "$perf_pid" || true
  { perf report -i "$work/perf.data" --stdio --no-children --sort comm -g none 2>/dev/null | grep -E '^ +[0-9]' | head -4
    perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -E '^ +[0-9]' | head -4
    perf report -i "$work/perf.data" --stdio --children --sort sym -g none 2>/dev/null |
      grep -E '\] (__x64_sys_futex|do_fsync|__x64_sys_fdatasync|sock_write_iter|__libc_write|epoll_wait|__libc_open|malloc|oncelink_gateway::origin|oncelink::|redb::)' | head -14
  } >"$work/profile.txt" || true
  cat "$work/profile.txt"
fi
step "denials (${seconds}s)"
LINKS_FILE="$work/spent.txt" WRAP=1 run_wrk denied "$here/walk.lua" "$seconds"
step "healthz (${seconds}s)"
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$base/_oncelink/healthz" | tee "$work/health.txt"

# --- 4. the peer: nginx serving the same files -------------------------------------------------
step "peer: nginx on the same objects dir (${seconds}s)"
objects="$work/data/objects/oncelink"
nginx_port="$(free_port)"
mkdir -p "$work/nginx"
# Its workers must read the gateway's data dir (0700, ours): as root, they run as us too.
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$work/nginx/nginx.conf" <<CONF
$user_line
worker_processes $(nproc);
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$nginx_port; root $objects; }
}
CONF
"$nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' &
pids+=($!)
nginx_base="http://127.0.0.1:$nginx_port"
wait_http "$nginx_base/$key"
[ "$(curl -fsS "$nginx_base/$key")" = "$(cat "$work/small.txt")" ] || { echo "nginx does not serve the small object" >&2; exit 1; }
wrk -t"$threads" -c"$connections" -d"${warmup}s" "$nginx_base/$key" >/dev/null
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$nginx_base/$key" | tee "$work/nginx.txt"

# --- 5. 1 GiB through a gateway link vs from nginx -------------------------------------------------
step "1 GiB download"
big="big/1gib.bin"
mkdir -p "$objects/big"
head -c 1073741824 /dev/urandom >"$objects/$big"
issue_big() {
  curl -fsS -H "Authorization: Bearer $(cat "$work/data/api-token")" -d "{\"key\":\"$big\"}" "$base/_oncelink/links" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])'
}
cat "$objects/$big" >/dev/null # page cache warm for both
mbps() { # url → MB/s to /dev/null (nothing else on the path); checks the whole GiB arrived
  curl -fsS -o /dev/null -w '%{size_download} %{speed_download}\n' "$1" |
    awk '$1 != 1073741824 { print "short download: " $1 " bytes" > "/dev/stderr"; exit 1 } { printf "%.1f\n", $2 / 1e6 }'
}
# Three rounds, alternating, each side's median kept: one download is at the mercy of whatever
# else the machine does in those few hundred milliseconds.
for _ in 1 2 3; do
  mbps "$nginx_base/$big" >>"$work/origin.runs"
  mbps "$(issue_big)" >>"$work/gateway.runs"
done
median() { sort -n "$1" | sed -n 2p; }
median "$work/origin.runs" >"$work/origin.mbps"
median "$work/gateway.runs" >"$work/gateway.mbps"
echo "runs (MB/s): nginx $(tr '\n' ' ' <"$work/origin.runs")| gateway $(tr '\n' ' ' <"$work/gateway.runs")"
# Then, untimed, that the bytes are the file's.
curl -fsS "$(issue_big)" | cmp - "$objects/$big" || { echo "the gateway delivered other bytes than the file's" >&2; exit 1; }
echo "nginx $(cat "$work/origin.mbps") MB/s, gateway $(cat "$work/gateway.mbps") MB/s"
rm -f "$objects/$big"
kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true
pids=()

# --- 6. result ---------------------------------------------------------------------------------
printf '{"threads": %d, "connections": %d, "seconds": %d, "warmup": %d, "cores": %d, "nginx": "%s"}\n' \
  "$threads" "$connections" "$seconds" "$warmup" "$(nproc)" "$("$nginx" -v 2>&1 | sed 's#.*/##')" >"$work/settings.json"
python3 "$here/report.py" "$work" "$BENCH_OUT/gateway.json"
echo "wrote $BENCH_OUT/gateway.json"
