#!/bin/sh
# Runs one libFuzzer target built by `make fuzz` for a number of seconds, on a scratch corpus
# (build/fuzz/corpus/TARGET, which keeps growing between local runs) seeded from the readable
# cases of tests/fuzz/make_corpus.py (written to build/fuzz/seeds/TARGET), with its dictionary. Prints one summary line;
# on a finding prints the end of the log, keeps the input in build/fuzz/artifacts/TARGET/
# and fails. Extra libFuzzer flags may be given in FUZZ_ARGS (e.g. FUZZ_ARGS=-jobs=2).
# Usage: tests/fuzz/run.sh TARGET SECONDS
set -e
target=${1:?usage: tests/fuzz/run.sh TARGET SECONDS}
seconds=${2:-60}
cd "$(dirname "$0")/../.."
bin=build/fuzz/fuzz_$target
corpus=build/fuzz/corpus/$target
artifacts=build/fuzz/artifacts/$target
log=build/fuzz/$target.log
seeds=build/fuzz/seeds/$target
mkdir -p "$corpus" "$artifacts" "$seeds"
/usr/bin/python3 tests/fuzz/make_corpus.py "$seeds/.." >/dev/null
cp "$seeds"/* "$corpus"/
case $target in
  http|path) dict=-dict=tests/fuzz/http.dict ;;
  config) dict=-dict=tests/fuzz/config.dict ;;
  *) dict= ;;
esac
# -timeout: an input that takes 60 s is a hang (a finding; generous because CI machines are
# shared and the runs are niced); leaks are findings too.
# shellcheck disable=SC2086
if nice -n 10 "$bin" $dict -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" $FUZZ_ARGS "$corpus" >"$log" 2>&1; then
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  echo "fuzz $target: ${seconds}s, ${runs:-?} runs, ${cov:-cov: ?}, $(ls "$corpus" | wc -l) corpus files, no finding"
else
  tail -n 60 "$log"
  echo "fuzz $target: FINDING (input in $artifacts/, full log $log)" >&2
  exit 1
fi
