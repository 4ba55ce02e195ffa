#!/usr/bin/env bash
# Benchmark on the GPU and write benchmarks/results/<gpu>-<selection>.json plus its Markdown report (.md).
#
#   benchmarks/run_gpu.sh               all variants of test_models_speed.py (long: every model compiles 6 times)
#   benchmarks/run_gpu.sh targets       only what the issue's targets compare (zoo/timm resnet50, CIFAR ResNet-56)
#   benchmarks/run_gpu.sh -k EXPR ...   any pytest selection; the arguments go to pytest
#
# RESULT_NAME=<name> overrides the file name. Needs the dev extras (pytest-benchmark) and a CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."

selection="full"
args=()
if [[ "${1:-}" == "targets" ]]; then
    selection="targets"
    args=(-k "zoo_resnet50 or timm_resnet50 or (test_inference and (cifar_resnet56 or reference_resnet56))")
    shift
elif [[ $# -gt 0 ]]; then
    selection="custom"
fi

gpu=$(python -c "import sys, torch; torch.cuda.is_available() or sys.exit('run_gpu.sh: torch sees no CUDA device'); \
print(torch.cuda.get_device_name().lower().replace('nvidia', '').strip().replace(' ', '-'))")
name="${RESULT_NAME:-${gpu}-${selection}}"
json="benchmarks/results/${name}.json"

python -m pytest benchmarks/test_models_speed.py --bench-device cuda -p no:cacheprovider \
    --benchmark-json "$json" --benchmark-columns median,ops,rounds "${args[@]}" "$@"
python benchmarks/report.py "$json" -o "benchmarks/results/${name}.md"
echo "wrote $json and benchmarks/results/${name}.md"
