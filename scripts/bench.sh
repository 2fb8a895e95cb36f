#!/usr/bin/env bash
# Runs herald's benchmarks (release builds) and prints one table; see BENCHMARKS.md.
#
#   scripts/bench.sh                      # everything; the SDK rows need .venv-sdk
#   BENCH_RATE_SECS=600 scripts/bench.sh  # a longer 300/min run (default 120 s)
#
# Environment: BENCH_RATE_SECS (300/min measuring horizon), BENCH_ROWS (unlimited run, default
# 5000), BENCH_SDK_PYTHON (default .venv-sdk/bin/python; create it with
# `bash crates/sandbox/tests/sdk/setup.sh .venv-sdk`), BENCH_SKIP (space-separated: plan
# plan-local rate standalone unlimited sdk).
set -euo pipefail
cd "$(dirname "$0")/.."

rate_secs="${BENCH_RATE_SECS:-120}"
rows="${BENCH_ROWS:-5000}"
python="${BENCH_SDK_PYTHON:-.venv-sdk/bin/python}"
skip=" ${BENCH_SKIP:-} "

cargo build --quiet --release --bin herald --example bench
herald="$PWD/target/release/herald"
bench="$PWD/target/release/examples/bench"
# The ledger key examples/bench.rs seeds the ledgers with (LEDGER_KEY there).
ledger_key=09e8f43efacc007e0f594d642587925eff81c086398073b0f8c8fd93538ee713
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
results="$work/results"
: >"$results"

if [[ "$skip" != *" plan "* ]]; then
    "$bench" plan-setup "$work/plan" >>"$results"
    # Warm the page cache once, then measure.
    (cd "$work/plan" && HERALD_LEDGER_KEY="$ledger_key" "$herald" plan >/dev/null)
    (cd "$work/plan" && HERALD_LEDGER_KEY="$ledger_key" \
        /usr/bin/time -f 'plan_wall_seconds=%e\nplan_peak_rss_kib=%M' \
        "$herald" plan >/dev/null) 2>>"$results"
fi
if [[ "$skip" != *" plan-local "* ]]; then
    # The same audience size without a time-zone column: zones and states from the numbers,
    # a marketing template under the default window and a frequency cap, with the seeded sends
    # recorded as recent marketing SMS: inference, state rules and caps are all active.
    "$bench" plan-setup-local "$work/plan-local" >/dev/null
    (cd "$work/plan-local" && HERALD_LEDGER_KEY="$ledger_key" "$herald" plan >/dev/null)
    (cd "$work/plan-local" && HERALD_LEDGER_KEY="$ledger_key" \
        /usr/bin/time -f 'plan_local_wall_seconds=%e\nplan_local_peak_rss_kib=%M' \
        "$herald" plan >/dev/null) 2>>"$results"
fi
if [[ "$skip" != *" rate "* ]]; then
    "$bench" rate "$herald" "$rate_secs" >>"$results"
fi
if [[ "$skip" != *" standalone "* ]]; then
    # herald and the SDK loop side by side, each against `herald sandbox serve --rate-limit 300`.
    if [[ -x "$python" && "$skip" != *" sdk "* ]]; then
        "$bench" rate-standalone "$herald" "$rate_secs" "$python" >>"$results"
    else
        "$bench" rate-standalone "$herald" "$rate_secs" >>"$results"
    fi
fi
if [[ "$skip" != *" unlimited "* ]]; then
    if [[ -x "$python" && "$skip" != *" sdk "* ]]; then
        "$bench" unlimited "$herald" "$rows" "$python" >>"$results"
        "$bench" sdk-limited "$python" 400 >>"$results"
        "$bench" sdk-crash "$python" 2000 0.5 >>"$results"
    else
        "$bench" unlimited "$herald" "$rows" >>"$results"
    fi
fi

get() { grep -m1 "^$1=" "$results" | cut -d= -f2 || true; }
row() { printf '| %-58s | %14s | %-18s |\n' "$1" "$2" "$3"; }
echo
row "Measure" "Result" "Budget"
row "----------------------------------------------------------" "--------------" "------------------"
if [[ -n "$(get plan_wall_seconds)" ]]; then
    row "plan: 1,000,000 rows, 500,000 in ledger — wall time (s)" "$(get plan_wall_seconds)" "≤ 2 s"
    row "plan: peak RSS (MiB)" "$(( $(get plan_peak_rss_kib) / 1024 ))" "≤ 256 MiB"
fi
if [[ -n "$(get plan_local_wall_seconds)" ]]; then
    row "plan: same, no time-zone column (inferred, state rules, caps, 500k recent sends) (s)" "$(get plan_local_wall_seconds)" "≤ 2 s"
    row "plan: no time-zone column — peak RSS (MiB)" "$(( $(get plan_local_peak_rss_kib) / 1024 ))" "≤ 256 MiB"
fi
if [[ -n "$(get rate_429)" ]]; then
    row "apply at 300/min, first ${rate_secs} s — share of limit (%)" "$(get rate_share_of_limit_percent)" "≥ 98 %"
    row "apply at 300/min — 429 answers" "$(get rate_429)" "0"
    row "apply at 300/min — worst 60 s window (of 300)" "$(get rate_worst_60s_window)" "≤ 300"
fi
if [[ -n "$(get herald_standalone_429)" ]]; then
    row "standalone 300/min, first ${rate_secs} s — herald sends/s (% of limit)" "$(get herald_standalone_sends_per_second) ($(get herald_standalone_share_of_limit_percent) %)" "≥ 98 %"
    row "standalone 300/min — herald 429s / max admitted in 60 s" "$(get herald_standalone_429) / $(get herald_standalone_max_admitted_in_60s)" "0 / ≤ 300"
fi
if [[ -n "$(get sdk_standalone_429)" ]]; then
    row "standalone 300/min, first ${rate_secs} s — SDK loop sends/s (% of limit)" "$(get sdk_standalone_sends_per_second) ($(get sdk_standalone_share_of_limit_percent) %)" ""
    row "standalone 300/min — SDK loop 429s / max admitted in 60 s" "$(get sdk_standalone_429) / $(get sdk_standalone_max_admitted_in_60s)" ""
fi
if [[ -n "$(get herald_sends_per_second)" ]]; then
    row "apply, no limit, $(get unlimited_rows) rows — herald sends/s" "$(get herald_sends_per_second)" ""
    row "apply, no limit — herald sends/s incl. start-up" "$(get herald_sends_per_second_wall)" ""
fi
if [[ -n "$(get sdk_sends_per_second)" ]]; then
    row "Python SDK loop, no limit — sends/s" "$(get sdk_sends_per_second)" ""
    row "Python SDK loop at 300/min, $(get sdk_limited_rows) rows — 429 answers" "$(get sdk_limited_429)" "(herald: 0)"
    row "Python SDK loop killed at 50 %, rerun — duplicates" "$(get sdk_crash_duplicates)" "(herald: 0)"
fi
echo
echo "Raw results:"
cat "$results"
