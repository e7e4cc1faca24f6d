#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time, from the committed seeds.
#
#   fuzz/run.sh                 every target, FUZZ_SECONDS (default 60) each
#   fuzz/run.sh replay narrowing
#   FUZZ_SECONDS=600 FUZZ_JOBS=2 fuzz/run.sh
#
# Targets run FUZZ_JOBS at a time (default: the number of CPUs, at most 2), each in its own
# corpus directory (fuzz/corpus/TARGET, not committed) seeded from fuzz/seeds/TARGET. A target
# that finds a crash, a failed assertion, a leak of time (-timeout) or memory (-rss_limit_mb)
# fails the run; its log is printed with the offending input as hex. The last line of each
# target's summary gives libFuzzer's executions and coverage counters.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
[ "$jobs" -gt 2 ] && jobs=2
# The stable toolchain accepts the sanitizer-coverage flags cargo-fuzz passes with this set.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

# Release code with debug assertions (integer overflow panics); no sanitizer: the targets and the
# crates they reach are safe Rust, so AddressSanitizer would only slow them down.
build=(-O -a -s none)
echo "=== building the fuzz targets ($(date +%T))"
cargo fuzz build "${build[@]}"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
run_one() {
  local t="$1" log="logs/$1.log"
  mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
  if cargo fuzz run "${build[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1; then
    echo ok >"logs/$t.status"
  else
    echo failed >"logs/$t.status"
  fi
}

echo "=== running ${#targets[@]} targets for ${seconds}s each, $jobs at a time ($(date +%T))"
running=0
for t in "${targets[@]}"; do
  rm -f "logs/$t.status"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
for t in "${targets[@]}"; do
  log="logs/$t.log"
  status="$(cat "logs/$t.status" 2>/dev/null || echo failed)"
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
  cov="$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || true)"
  corpus="$(find "corpus/$t" -type f | wc -l)"
  printf '%-12s %-6s executions %-10s %s corpus %s\n' "$t" "$status" "${runs:-?}" "${cov:-cov: ?}" "$corpus"
  if [ "$status" != ok ]; then
    failed=1
    echo "----- $t: log (last 60 lines)"
    tail -n 60 "$log"
    input="$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')"
    if [ -n "$input" ] && [ -f "$input" ]; then
      echo "----- $t: the input ($(wc -c <"$input") bytes, hex; replay with: cargo fuzz run $t $input)"
      od -An -v -tx1 "$input" | tr -d ' \n' | fold -w 96
      echo
    fi
  fi
done
exit "$failed"
