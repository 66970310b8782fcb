#!/usr/bin/env bash
# bench/run.sh — run every benchmark part on this machine and write docs/benchmarks.md.
#
#   bash bench/run.sh
#
# Steps (each part writes $BENCH_OUT/<part>.json; BENCH_OUT defaults to target/bench-results):
#   1. peers, installed idempotently under ${ONCELINK_CACHE:-~/.cache/oncelink}/bench:
#      a Python venv with boto3 (bench/peers/requirements.txt) and the AWS SDK for JavaScript v3
#      (bench/peers/package.json + package-lock.json, `npm ci`); reinstalled only when those change;
#   2. release build of the bench binaries and the Lambda functions (thin LTO: slow the first time);
#   3. issuing    — URLs/s per core: oncelink vs aws-sdk-s3, boto3, JS SDK v3;
#      decision   — edge decision CPU per request (no I/O), p50/p99;
#      profile    — callgrind instruction profile of the presigned issue path (issuing.profile.txt);
#      validation — consuming request latency against DynamoDB Local + call counts  } under
#      functions  — Lambda binaries: cold start, CPU per invocation, peak RSS, zips } tests/with-emulators.sh
#      gateway    — bench/gateway/run.sh: the gateway under load;
#   4. report     — docs/benchmarks.md and docs/benchmarks-*.svg from all result files.
# Everything listens on loopback only; every loop is bounded in count and time.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export BENCH_OUT="${BENCH_OUT:-$repo/target/bench-results}"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}/bench"
mkdir -p "$cache" "$BENCH_OUT"
step() { echo "==== bench: $* ($(date -u +%H:%M:%S))"; }

# --- 1. peers ---------------------------------------------------------------------------------
# A stamp holds the hash of what was installed; matching stamp = nothing to do.
step "peers"
py_stamp="$(sha256sum bench/peers/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$cache/venv.stamp" 2>/dev/null)" != "$py_stamp" ]; then
  rm -rf "$cache/venv"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check -r bench/peers/requirements.txt
  echo "$py_stamp" > "$cache/venv.stamp"
fi
node_stamp="$(cat bench/peers/package.json bench/peers/package-lock.json | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$cache/node.stamp" 2>/dev/null)" != "$node_stamp" ]; then
  rm -rf "$cache/node" && mkdir -p "$cache/node"
  cp bench/peers/package.json bench/peers/package-lock.json "$cache/node/"
  (cd "$cache/node" && npm ci --silent --no-audit --no-fund)
  echo "$node_stamp" > "$cache/node.stamp"
fi
# The script must sit next to its node_modules for its imports to resolve.
cp bench/peers/js_presign.mjs "$cache/node/"

# --- 2. build ----------------------------------------------------------------------------------
step "build (release)"
# The functions alone (as their deployment build does), so that the bench crate's features
# (tokio "full", the S3 SDK, ...) are not unified into the binaries being measured.
cargo build --release --locked -p issue-url -p viewer-request
cargo build --release --locked -p oncelink-bench
bin="$repo/target/release"

# One run = one set of result files: drop the previous run's.
rm -f "$BENCH_OUT"/*.json "$BENCH_OUT"/*.profile.txt

# --- 3. parts ------------------------------------------------------------------------------------
step "issuing"
"$bin/issuing" --python "$cache/venv/bin/python" --node-peers "$cache/node"
step "decision"
"$bin/decision"

# callgrind needs symbols; the release profile strips them. So issue_loop is built once more,
# unstripped, without the SDK-dependent parts (few dependencies), into target/profiling: the
# same dir and settings bench/gateway/run.sh uses for the gateway, so shared crates build once.
step "profile (callgrind)"
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR="$repo/target/profiling" \
  cargo build --release --locked -p oncelink-bench --no-default-features --bin issue_loop
valgrind --tool=callgrind --callgrind-out-file="$BENCH_OUT/issue_loop.callgrind" \
  "$repo/target/profiling/release/issue_loop" 2000 2> "$BENCH_OUT/issue_loop.valgrind.log"
{
  echo "callgrind: 2,000 presigned links through oncelink::issue::issue (bench/src/bin/issue_loop.rs), our SigV4 signer with its cached key."
  echo "Instructions per function, inclusive (self + callees), from the issue path down. sha2 ran its portable"
  echo "code under valgrind (soft::compress); where the CPU's SHA extensions are used natively, SHA-256 weighs less."
  # (awk, not head, keeps the top lines: head would end the pipe early and pipefail would stop us)
  callgrind_annotate --inclusive=yes "$BENCH_OUT/issue_loop.callgrind" \
    | sed -n -E '/oncelink::issue::(mint::)?issue$/,$p' | grep -v -e '^$' -e '^-' \
    | sed -E 's# \[[^]]*\]$##; s#/root/.cargo/registry/src/[^/]*/##; s#/rustc/[0-9a-f]*/library/#std:#' | awk 'NR <= 22'
} > "$BENCH_OUT/issuing.profile.txt"

if [ ! -f "${ONCELINK_CACHE:-$HOME/.cache/oncelink}/target-arm64/lambda/viewer-request/bootstrap.zip" ]; then
  step "arm64 zips (tests/infra/build-zips.sh; slow the first time)"
  bash tests/infra/build-zips.sh
fi

step "validation + functions (under tests/with-emulators.sh)"
bash tests/with-emulators.sh bash -c "'$bin/validation' && '$bin/functions'"

step "gateway (bench/gateway/run.sh)"
bash bench/gateway/run.sh

# --- 4. report -----------------------------------------------------------------------------------
step "report"
"$bin/report"
echo "bench: done; see docs/benchmarks.md"
