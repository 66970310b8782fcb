#!/usr/bin/env bash
# The one test command: installs what the tests need (idempotently, cached under
# ~/.cache/oncelink), builds, then runs every suite. README and .ci/run call exactly this.
#
#   bash tests/run-all.sh
#
# Phases (each prints a banner):
#   1. install   emulators (moto, DynamoDB Local, s3s-fs)
#   2. build     every crate and test binary, while the network is still there; lint
#   3. rust      all Rust tests (unit, integration, black-box) with the emulators up, inside a
#                private network namespace (tests/with-emulators.sh explains why)
#   4. fuzz      the fuzz harnesses over the checked-in regression corpus (plain cargo test), then
#                libFuzzer on every target for ONCELINK_FUZZ_SECONDS (default 15) each; longer runs:
#                `bash tests/fuzz.sh SECONDS`
#   5. web       the gateway's web page driven in headless Chromium (playwright-core)
#   6. container the Dockerfile's image built with buildah (static binary built on the host,
#                cached under ~/.cache/oncelink/target-static) and run with podman, no Docker
#                daemon: image config, healthcheck, put/issue/200/403, non-root, a restart on the
#                same volume; the compose example checked structurally (tests/container/run.sh)
#   7. infra     arm64 Lambda zips (cached under ~/.cache/oncelink/target-arm64), the edge shim,
#                CDK synth with cdk-nag, cfn-lint, CDK assertions, Terraform parse/checkov/cross-check
set -euo pipefail
cd "$(dirname "$0")/.."

# Each banner carries the seconds since the start, so a slow phase shows in any log.
phase() { printf '\n==== %s (at %ss) ====\n' "$*" "$SECONDS"; }

# A CI run builds once from a clean clone: incremental compilation state would only take disk
# (~1 GB). Developers keep it.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# Say how much disk there is up front: when a build later dies with "No space left on device",
# this line tells whether the machine was short from the start. A cold run needs about 8 GB.
df -h . "${HOME}/.cache" 2>/dev/null | awk 'NR == 1 || !seen[$1]++' || true

# The cached target dirs (arm64 zips, fuzzing, corpus replay) outlive dependency, profile and
# toolchain changes, and cargo never deletes stale artifacts: on a long-lived CI machine they
# would grow until the disk is full. One over 4 GB is dropped here and rebuilt (minutes).
cache_root=${ONCELINK_CACHE:-$HOME/.cache/oncelink}
for dir in "$cache_root"/target-*; do
  [ -d "$dir" ] || continue
  size_mb=$(( $(du -sk "$dir" | cut -f1) / 1024 ))
  if [ "$size_mb" -gt 4096 ]; then
    echo "cache: $dir holds ${size_mb} MB (cap 4096 MB): dropping it; this run rebuilds it"
    rm -rf "$dir"
  fi
done

phase "install: emulators"
bash tests/setup.sh

phase "install: infra test tools (CDK, cdk-nag, cfn-lint, checkov, python-hcl2, cargo-lambda)"
bash tests/infra/setup.sh

phase "install: browser test tools (Debian chromium, playwright-core)"
bash tests/web/setup.sh

phase "build: workspace, tests and benches"
cargo build --workspace --all-targets --locked

phase "lint: rustfmt and clippy (warnings are errors)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

phase "rust: unit, integration and end-to-end tests (emulators up, private netns)"
ONCELINK_SKIP_SETUP=1 bash tests/with-emulators.sh cargo test --workspace --locked --offline

phase "fuzz: replay the checked-in corpus, then fuzz every target for a bounded time"
CARGO_TARGET_DIR="${ONCELINK_CACHE:-$HOME/.cache/oncelink}/target-fuzz-replay" bash tests/fuzz.sh --replay
bash tests/fuzz.sh "${ONCELINK_FUZZ_SECONDS:-15}"

phase "web: the gateway's page in headless Chromium"
bash tests/web/run.sh

phase "container: the image from the Dockerfile (buildah), run with podman: health, a link 200 then 403, non-root, restart"
bash tests/container/run.sh

phase "infra: Lambda packages, edge shim, CDK synth + cdk-nag + cfn-lint + assertions, Terraform"
bash tests/infra/run.sh
