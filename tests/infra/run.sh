#!/usr/bin/env bash
# tests/infra/run.sh — every infra test, offline. Exits non-zero if any step fails; each runner
# prints its own summary (node --test, pytest), and a last line counts the steps.
#
#   1. package checks   shim zip <= 1 MiB; Rust zips within Lambda's limits (builds them if missing)
#   2. edge shim        unit tests (node --test) with an injected fake invoker; keys-init (the
#                       secret initialiser) with fake SSM and Secrets Manager clients
#   3. CDK              tsc; `cdk synth` of the sample app in both modes with cdk-nag AwsSolutions
#                       (synth fails on any unacknowledged finding), for the CloudFront deployment
#                       and for -c deployment=static-ip; cfn-lint on every template;
#                       assertion tests (aws-cdk-lib/assertions under node --test)
#   4. Terraform        pytest: every file parses (python-hcl2), checkov 0 failed, skips justified,
#                       both modules' own checks, and the Terraform/CDK cross-checks
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
venv="$cache/venv-infra"
# ONCELINK_ARTIFACTS_DIR: synth from zips elsewhere (e.g. with ONCELINK_SKIP_RUST=1 while a
# function's crate is not on this branch yet); default: where build-zips.sh puts them.
artifacts="${ONCELINK_ARTIFACTS_DIR:-${ONCELINK_ARM64_TARGET_DIR:-$cache/target-arm64}/lambda}"
out="$(mktemp -d "${TMPDIR:-/tmp}/oncelink-infra.XXXXXX")"
trap 'rm -rf "$out"' EXIT

passed=0; failed=0; failures=()
step() {
  local name="$1"; shift
  printf '\n==== infra: %s ====\n' "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); echo "infra: FAILED: $name" >&2; fi
}

if [ ! -f "$venv/.oncelink-ready" ] || [ ! -f "$repo/infra/cdk/node_modules/.oncelink-ready" ]; then
  bash "$repo/tests/infra/setup.sh" || exit 1
fi

zips() {
  # Always rebuild: cargo is incremental, and zips left from older sources must never be checked.
  bash "$repo/tests/infra/build-zips.sh"
}
step "package checks (zip sizes)" zips

step "edge shim unit tests" node --test "$repo/infra/edge-shim/test/"
step "keys-init unit tests" node --test "$repo/infra/keys-init/test/"

cd "$repo/infra/cdk" || exit 1
step "cdk typecheck" npx --no-install tsc --noEmit
synth() {
  local mode="$1"
  npx --no-install cdk synth --no-notices -q --app "npx --no-install tsx bin/app.ts" \
    -c mode="$mode" -c artifactsDir="$artifacts" -o "$out/cdk/$mode" && echo "synth $mode: ok (cdk-nag AwsSolutions: no unacknowledged findings)"
}
step "cdk synth sealed + cdk-nag" synth sealed
step "cdk synth presigned + cdk-nag" synth presigned
synth_static() {
  local mode="$1"
  npx --no-install cdk synth --no-notices -q --app "npx --no-install tsx bin/app.ts" \
    -c deployment=static-ip -c mode="$mode" -o "$out/cdk/static-ip-$mode" && echo "synth static-ip $mode: ok (cdk-nag AwsSolutions: no unacknowledged findings)"
}
step "cdk synth static-ip sealed + cdk-nag" synth_static sealed
step "cdk synth static-ip presigned + cdk-nag" synth_static presigned
cfnlint() {
  # W3005: CDK adds DependsOn on the role's default policy on purpose (so the function never
  # runs before its policy exists); cfn-lint calls that redundant. Errors (E*) always fail.
  "$venv/bin/cfn-lint" --ignore-checks W3005 -- "$out"/cdk/*/*.template.json && echo "cfn-lint: $(ls "$out"/cdk/*/*.template.json | wc -l) templates, 0 errors, 0 warnings"
}
step "cfn-lint" cfnlint
step "cdk assertion tests" node --import tsx --test test/*.test.ts

cd "$repo" || exit 1
step "terraform + cross-check (pytest)" env ONCELINK_CDK_OUT="$out/cdk" "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/infra

printf '\ninfra: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ] || { printf 'infra: failed steps: %s\n' "${failures[*]}" >&2; exit 1; }
