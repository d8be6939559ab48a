#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets in fuzz/ on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; TARGETs default to all (`cargo fuzz list`).
# Each target starts from its committed seeds (fuzz/seeds/<target>/, read
# only) plus a scratch corpus (fuzz/corpus/<target>/, gitignored, kept between
# local runs; new inputs go only there). All targets are run even if one
# crashes; the exit status is non-zero if any target failed, and the crash
# artifact paths (fuzz/artifacts/<target>/) are printed.
#
# Environment:
#   FUZZ_RSS_LIMIT_MB  libFuzzer -rss_limit_mb (default 512)
#   FUZZ_SANITIZER     address (default) | none | ...  (cargo fuzz --sanitizer)
#   FUZZ_VERBOSE=1     stream libFuzzer's output instead of logging it to
#                      fuzz/target/fuzz-logs/<target>.log
#   FUZZ_ARGS          extra libFuzzer flags, e.g. "-max_len=16384 -jobs=2"
#
# cargo-fuzz builds with -Zsanitizer=address, a nightly-only flag (the
# sancov -Cpasses/-Cllvm-args flags are stable); RUSTC_BOOTSTRAP=1 lets the
# stable compiler accept it. It is set only for the cargo fuzz commands below.
# (FUZZ_SANITIZER=none builds without it, and without RUSTC_BOOTSTRAP too.)
set -euo pipefail

cd "$(dirname "$0")/.."

secs=${1:-60}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $secs =~ ^[0-9]+$ ]] || [[ $secs -eq 0 ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
rss=${FUZZ_RSS_LIMIT_MB:-512}
sanitizer=${FUZZ_SANITIZER:-address}
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo-fuzz not found: cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked
fi

# RUST_LIB_BACKTRACE=0: no anyhow backtrace of cargo-fuzz itself on a crash
# (the fuzz target's panic backtrace follows RUST_BACKTRACE).
fuzz() { RUSTC_BOOTSTRAP=1 RUST_LIB_BACKTRACE=0 cargo fuzz "$@"; }

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(fuzz list)
fi
known=$(fuzz list)
for t in "${targets[@]}"; do
    if ! grep -qx -- "$t" <<<"$known"; then
        echo "unknown fuzz target '$t'; known: $(echo $known)" >&2
        exit 2
    fi
done

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"

start=$SECONDS
echo "== building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
    fuzz build --sanitizer "$sanitizer" "$t"
done
echo "== built in $((SECONDS - start)) s"

failed=()
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    seeds=fuzz/seeds/$t
    mkdir -p "$corpus"
    dirs=("$corpus")
    [[ -d $seeds ]] && dirs+=("$seeds")
    log=$logs/$t.log
    echo "== $t: ${secs} s, corpus $corpus, seeds ${seeds}"
    args=(run --sanitizer "$sanitizer" "$t" "${dirs[@]}" --
        "-max_total_time=$secs" "-rss_limit_mb=$rss" -timeout=10
        -print_final_stats=1 "${extra[@]}")
    set +e
    if [[ ${FUZZ_VERBOSE:-0} == 1 ]]; then
        fuzz "${args[@]}" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
    else
        fuzz "${args[@]}" >"$log" 2>&1
        rc=$?
    fi
    set -e
    if [[ $rc -eq 0 ]]; then
        runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || true)
        cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
        echo "   ok: ${runs:-?} runs, ${cov:-no coverage line}, corpus $(find "$corpus" -type f | wc -l) files"
    else
        failed+=("$t")
        if [[ ${FUZZ_VERBOSE:-0} != 1 ]]; then
            # the panic / sanitizer message and the start of the stack
            # trace (full output: $log)
            awk '/panicked at|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ERROR: libFuzzer/ {p = 1}
                 p && n < 45 {print; n++}' "$log"
            grep -E '^SUMMARY:|^Base64:' "$log" || true
        fi
        echo "!! $t FAILED (exit $rc); log: $log"
        grep -oE 'Test unit written to .*' "$log" | sed 's/^Test unit written to /!! artifact: /' || true
        echo "!! reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t <artifact>"
        echo "!! minimise:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin $t <artifact>"
    fi
done

echo "== fuzzing done in $((SECONDS - start)) s total"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "!! failed targets: ${failed[*]}" >&2
    exit 1
fi
