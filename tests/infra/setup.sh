#!/usr/bin/env bash
# tests/infra/setup.sh — install what the infra tests need, idempotently (fast when done):
#
#   $ONCELINK_CACHE/venv-infra                checkov, cfn-lint, pytest, cargo-lambda (+ zig)
#   $ONCELINK_CACHE/venv-infra/python-hcl2    python-hcl2 (own --target dir: checkov's fork
#                                             installs a module of the same name)
#   infra/cdk/node_modules                    npm ci (aws-cdk-lib, aws-cdk CLI, cdk-nag, tsx, typescript)
#
# The edge shim (infra/edge-shim) and keys-init have no dependencies (the Lambda Node.js runtime
# ships the AWS SDK v3). Each step writes a marker keyed on the hash of its lock file last, so
# an interrupted install is redone. Needs the package registries (PyPI, npm).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
mkdir -p "$cache"
log() { echo "infra/setup.sh: $*" >&2; }
for tool in python3 node npm zip unzip; do
  command -v "$tool" >/dev/null 2>&1 || { log "error: $tool not found on PATH"; exit 1; }
done

lock() { # serialise concurrent runs on the same cache
  exec {lockfd}>"$cache/.infra-$1.lock"
  command -v flock >/dev/null 2>&1 && flock -w 1800 "$lockfd"
  return 0
}

# --- Python venv -----------------------------------------------------------------------------
venv="$cache/venv-infra"
req="$repo/tests/infra/requirements.txt"
want="$(cat "$req" | sha256sum | cut -d' ' -f1)-hcl2-8.1.4"
lock venv
if [ "$(cat "$venv/.oncelink-ready" 2>/dev/null)" != "$want" ]; then
  log "creating $venv (checkov, cfn-lint, pytest, cargo-lambda, python-hcl2)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  "$venv/bin/pip" install -q --disable-pip-version-check --target "$venv/python-hcl2" python-hcl2==8.1.4
  echo "$want" > "$venv/.oncelink-ready"
else
  log "venv-infra ready"
fi

# --- CDK node_modules --------------------------------------------------------------------------
cdk="$repo/infra/cdk"
want="$(sha256sum "$cdk/package-lock.json" | cut -d' ' -f1)"
lock npm
if [ "$(cat "$cdk/node_modules/.oncelink-ready" 2>/dev/null)" != "$want" ]; then
  log "npm ci in infra/cdk"
  (cd "$cdk" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$cdk/node_modules/.oncelink-ready"
else
  log "infra/cdk/node_modules ready"
fi
# --- the arm64 Rust target (cargo lambda cross-builds provided.al2023 arm64 zips) --------------
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  log "adding the aarch64-unknown-linux-gnu target (rust-std for cross builds)"
  rustup target add aarch64-unknown-linux-gnu || {
    log "error: cannot add the aarch64-unknown-linux-gnu target; the arm64 Lambda zips cannot be built here"
    exit 1
  }
else
  log "aarch64-unknown-linux-gnu target ready"
fi
log "done"
