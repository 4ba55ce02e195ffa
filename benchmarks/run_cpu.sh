#!/usr/bin/env bash
# Benchmark the CPU recipe and inference fast path (benchmarks/test_cpu_speed.py) and write
# benchmarks/results/cpu-<cpu>.json plus its Markdown report (.md). Run it on a quiet machine: it uses every core.
#
#   benchmarks/run_cpu.sh [pytest arguments]
#
# RESULT_NAME=<name> overrides the file name.
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=$(cd benchmarks && python -c "import re, bench_setup; \
print(re.sub(r'[^a-z0-9]+', '-', bench_setup.cpu_name().lower()).strip('-'))")
name="${RESULT_NAME:-cpu-${cpu}}"
json="benchmarks/results/${name}.json"
mkdir -p benchmarks/results

load=$(cut -d' ' -f1 /proc/loadavg)
# a missed speed target fails pytest; the JSON and its report are still written, and the exit status says so
status=0
python -m pytest benchmarks/test_cpu_speed.py -p no:cacheprovider --benchmark-json "$json" \
    --benchmark-columns median,ops,rounds "$@" || status=$?
python benchmarks/report.py "$json" -o "benchmarks/results/${name}.md"
printf '\nMeasured with `benchmarks/run_cpu.sh%s` (1-minute load average %s before the run).\n' \
    "${*:+ $*}" "$load" >> "benchmarks/results/${name}.md"
echo "wrote $json and benchmarks/results/${name}.md"
exit "$status"
