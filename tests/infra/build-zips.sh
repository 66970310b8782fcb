#!/usr/bin/env bash
# tests/infra/build-zips.sh — build the deployable Lambda packages and print their sizes.
#
#   $ONCELINK_CACHE/target-arm64/lambda/issue-url/bootstrap.zip       Rust, provided.al2023 arm64
#   $ONCELINK_CACHE/target-arm64/lambda/viewer-request/bootstrap.zip  (cargo lambda)
#   $ONCELINK_CACHE/target-arm64/lambda/ledger-events/bootstrap.zip   (cargo lambda)
#   target/infra/edge-shim.zip                        Node.js Lambda@Edge shim (sample config)
#
# The Rust build uses its own CARGO_TARGET_DIR, by default $ONCELINK_CACHE/target-arm64
# (override: ONCELINK_ARM64_TARGET_DIR): it never holds the cargo lock of the main target dir,
# and a cold cross build (~20 min on 2 cores) is paid once per machine, not once per clone. cargo-lambda (with zig, for cross-linking arm64) comes from PyPI into
# the infra venv that tests/infra/setup.sh makes. Env: ONCELINK_CACHE, ONCELINK_SKIP_RUST=1 (shim only).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
venv="$cache/venv-infra"
out="$repo/target/infra"
mkdir -p "$out"

size_of() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

# --- edge shim: index.mjs + shim.mjs + a sample config.mjs (the construct generates the real one)
shim_zip="$out/edge-shim.zip"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
cp "$repo/infra/edge-shim/index.mjs" "$repo/infra/edge-shim/shim.mjs" "$stage/"
cp "$repo/infra/edge-shim/config.example.mjs" "$stage/config.mjs"
rm -f "$shim_zip"
(cd "$stage" && zip -q -X -9 "$shim_zip" index.mjs shim.mjs config.mjs)
shim_size="$(size_of "$shim_zip")"
echo "edge-shim.zip           $shim_size bytes ($(mib "$shim_size")), limit 1 MiB (Lambda@Edge viewer request)"
[ "$shim_size" -le 1048576 ] || { echo "build-zips.sh: edge shim zip exceeds 1 MiB" >&2; exit 1; }

[ "${ONCELINK_SKIP_RUST:-0}" = 1 ] && exit 0

# --- Rust functions -------------------------------------------------------------------------
[ -x "$venv/bin/cargo-lambda" ] || { echo "build-zips.sh: $venv/bin/cargo-lambda missing; run tests/infra/setup.sh" >&2; exit 1; }
export PATH="$venv/bin:$PATH"   # cargo finds the cargo-lambda subcommand, cargo-lambda finds zig
export CARGO_TARGET_DIR="${ONCELINK_ARM64_TARGET_DIR:-$cache/target-arm64}"
cd "$repo"
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip --locked -p issue-url -p viewer-request -p ledger-events
echo "cargo lambda build took $(( $(date +%s) - start )) s"

# Lambda limits: 50 MB zipped for direct upload, 250 MB unzipped.
for fn in issue-url viewer-request ledger-events; do
  zip="$CARGO_TARGET_DIR/lambda/$fn/bootstrap.zip"
  [ -f "$zip" ] || { echo "build-zips.sh: $zip was not produced" >&2; exit 1; }
  zipped="$(size_of "$zip")"
  unzipped="$(unzip -l "$zip" | tail -1 | awk '{print $1}')"
  printf '%-23s %s bytes (%s) zipped, %s bytes unzipped; limits 50 MiB / 250 MiB\n' "$fn/bootstrap.zip" "$zipped" "$(mib "$zipped")" "$unzipped"
  [ "$zipped" -le 52428800 ] && [ "$unzipped" -le 262144000 ] || { echo "build-zips.sh: $fn exceeds Lambda's package limits" >&2; exit 1; }
done
