#!/usr/bin/env bash
# Benchmark on the GPU and write benchmarks/results/<gpu>-<selection>.json plus its Markdown report (.md).
#
#   benchmarks/run_gpu.sh               all variants of test_models_speed.py (long: every model compiles 6 times)
#                                       and the training recipe against the plain loop (test_train_speed.py)
#   benchmarks/run_gpu.sh targets       only what the issues' targets compare (zoo/timm resnet50, CIFAR ResNet-56
#                                       inference, the training recipe)
#   benchmarks/run_gpu.sh -k EXPR ...   any pytest selection; the arguments go to pytest
#
# RESULT_NAME=<name> overrides the file name; PYTHON the interpreter (default python3, the name the GPU machine's
# image has). Needs pytest-benchmark and a CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."

selection="full"
args=()
if [[ "${1:-}" == "targets" ]]; then
    selection="targets"
    args=(-k "zoo_resnet50 or timm_resnet50 or (test_inference and (cifar_resnet56 or reference_resnet56)) \
or test_train_throughput or twice_as_fast")
    shift
elif [[ $# -gt 0 ]]; then
    selection="custom"
fi

python="${PYTHON:-python3}"
gpu=$("$python" -c "import sys, torch; torch.cuda.is_available() or sys.exit('run_gpu.sh: torch sees no CUDA device'); \
print(torch.cuda.get_device_name().lower().replace('nvidia', '').strip().replace(' ', '-'))")
name="${RESULT_NAME:-${gpu}-${selection}}"
json="benchmarks/results/${name}.json"

# a missed speed target fails pytest; the JSON and its report are still written, and the exit status says so
status=0
"$python" -m pytest benchmarks/test_models_speed.py benchmarks/test_train_speed.py --bench-device cuda \
    -p no:cacheprovider --benchmark-json "$json" --benchmark-columns median,ops,rounds "${args[@]}" "$@" || status=$?
"$python" benchmarks/report.py "$json" -o "benchmarks/results/${name}.md"
echo "wrote $json and benchmarks/results/${name}.md"
exit "$status"
