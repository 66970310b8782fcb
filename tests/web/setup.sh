#!/usr/bin/env bash
# tests/web/setup.sh — idempotent: Debian's chromium and openssl (the TLS gateway's test
# certificate; each only if missing) and playwright-core (npm ci).
set -euo pipefail
cd "$(dirname "$0")"
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if (( ${#missing[@]} )); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -d node_modules/playwright-core ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
/usr/bin/chromium --version
