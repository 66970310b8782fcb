#!/usr/bin/env bash
# Coverage-guided fuzzing of the oncelink core (cargo-fuzz / libFuzzer, stable Rust).
#
#   tests/fuzz.sh [SECONDS]   install cargo-fuzz if needed, build, then fuzz each target for
#                             SECONDS (default 20) from the checked-in corpus; exit 1 on a crash
#   tests/fuzz.sh --replay    replay the checked-in corpus through the harnesses (cargo test,
#                             no libFuzzer, no install): a quick regression check
#   tests/fuzz.sh --install   only install cargo-fuzz and fetch the fuzz crate's dependencies
#                             (the one step that needs the network; everything else runs offline)
#
# Environment:
#   ONCELINK_CACHE   cache root (default ~/.cache/oncelink); cargo-fuzz goes to $ONCELINK_CACHE/cargo-fuzz
#   FUZZ_TARGETS     space-separated targets (default: edge_event viewer_request sealed_token gateway_head)
#   FUZZ_TARGET_DIR  cargo target dir of the instrumented build (default $ONCELINK_CACHE/target-fuzz,
#                    so that fresh clones on one machine share it)
#
# Stable Rust only: `--sanitizer none` (AddressSanitizer needs nightly's -Zsanitizer; the core is
# safe Rust, and a panic is what we look for). `--debug-assertions` turns on overflow checks, so an
# arithmetic overflow is a crash too. The checked-in corpus is never modified: each target runs on
# a temporary copy. Crash inputs land in fuzz/artifacts/<target>/ (git-ignored); to keep one as a
# regression case, move it into fuzz/corpus/<target>/ once fixed (the crash input is also printed
# in base64, so one found in CI can be reproduced from the log). The fuzz crate uses the core
# without its AWS adapters, so the instrumented build is a few minutes; later runs reuse it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir=$root/fuzz
cache=${ONCELINK_CACHE:-$HOME/.cache/oncelink}
tool_root=$cache/cargo-fuzz
cargo_fuzz_version=0.13.2
targets=(${FUZZ_TARGETS:-edge_event viewer_request sealed_token gateway_head})
build_flags=(--sanitizer none --release --debug-assertions --target-dir "${FUZZ_TARGET_DIR:-$cache/target-fuzz}")

install() {
    if "$tool_root/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
        echo "fuzz: cargo-fuzz $cargo_fuzz_version already in $tool_root"
    else
        echo "fuzz: installing cargo-fuzz $cargo_fuzz_version into $tool_root"
        cargo install cargo-fuzz --version "=$cargo_fuzz_version" --locked --root "$tool_root"
    fi
    cargo fetch --manifest-path "$fuzz_dir/Cargo.toml"
}

replay() {
    # A plain test build: no instrumentation, no libFuzzer runtime, no cargo-fuzz.
    cargo test --manifest-path "$fuzz_dir/Cargo.toml" --test replay
}

case "${1:-}" in
    --install) install; exit 0 ;;
    --replay) replay; exit 0 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
esac

seconds=${1:-20}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS | --replay | --install]" >&2
    exit 2
fi

install
export PATH="$tool_root/bin:$PATH"
export CARGO_NET_OFFLINE=true # everything below runs from what install fetched

cd "$fuzz_dir"
echo "fuzz: building ${targets[*]} (cargo fuzz build ${build_flags[*]})"
for target in "${targets[@]}"; do
    cargo fuzz build "${build_flags[@]}" "$target"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for target in "${targets[@]}"; do
    corpus=$work/corpus-$target
    log=$work/$target.log
    mkdir -p "$corpus" "artifacts/$target"
    cp -R "corpus/$target/." "$corpus/"
    before=$(find "artifacts/$target" -type f | sort)
    dict=()
    [[ -f dict/$target.dict ]] && dict=(-dict="dict/$target.dict")
    echo "fuzz: $target for ${seconds}s from $(find "corpus/$target" -type f | wc -l) corpus inputs"
    set +e
    # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: 2 GiB per process.
    cargo fuzz run "${build_flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed "s/^/fuzz: $target: /" || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | sed "s/^/fuzz: $target: /" || true
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        echo "fuzz: $target: no crash"
    else
        failed=$((failed + 1))
        echo "fuzz: $target: FAILED (exit $rc); last lines of the libFuzzer log:"
        tail -n 40 "$log" | sed 's/^/    /'
        new=$(comm -13 <(echo "$before") <(find "artifacts/$target" -type f | sort) || true)
        for input in $new; do
            echo "fuzz: $target: crash input: $fuzz_dir/$input"
            echo "fuzz: $target: base64 of it: $(head -c 65536 "$input" | base64 -w0)"
            echo "fuzz: $target: reproduce: (cd fuzz && cargo fuzz run ${build_flags[*]} $target $input)"
        done
    fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
