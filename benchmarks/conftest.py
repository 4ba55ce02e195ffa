"""Benchmark options and fixtures: the device, the sizes chosen for it, the versions recorded in the JSON, and
glibc's malloc thresholds pinned as the ``resnet-zoo`` commands pin them.

``benchmarks/`` is not a package: this file puts its folder and ``tests/`` on ``sys.path`` so that every benchmark
file can import ``bench_setup`` and ``reference_resnet`` (the reference CIFAR ResNet that the tests check the zoo
against, and that all ratios are measured against).
"""
import sys
from pathlib import Path
from typing import Iterator

import pytest
import timm
import torch
import torchvision

import resnet_zoo
from resnet_zoo.allocator import keep_freed_memory

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS), str(BENCHMARKS.parent / "tests")]

from bench_setup import BenchSetup, device_name  # noqa: E402  (needs the path above)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resnet-zoo benchmarks")
    group.addoption("--bench-device", choices=("cuda", "cpu"), default=None,
                    help="device to benchmark on (default: cuda when available, else cpu at tiny sizes)")


def pytest_configure(config: pytest.Config) -> None:
    """Pin glibc's malloc thresholds, as every ``resnet-zoo`` command runs: for every loop, baselines included, so
    that ratios compare the loops and not the allocator (`allocator_ab.py` measures the allocator)."""
    keep_freed_memory()


def selected_device(config: pytest.Config) -> torch.device:
    """The ``--bench-device`` option, or CUDA when available.

    Raises:
        pytest.UsageError: For ``--bench-device cuda`` where torch sees no GPU.
    """
    name = config.getoption("--bench-device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--bench-device cuda, but torch sees no CUDA device")
    return torch.device(name)


@pytest.fixture(scope="session")
def bench_setup(pytestconfig: pytest.Config) -> BenchSetup:
    """The `BenchSetup` of the selected device; turns cuDNN autotuning on for CUDA."""
    device = selected_device(pytestconfig)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return BenchSetup.for_device(device)


@pytest.fixture
def fresh_compiler(bench_setup: BenchSetup) -> Iterator[None]:
    """Start a benchmark with an empty torch.compile cache and give its device memory back afterwards."""
    torch.compiler.reset()
    yield
    torch.compiler.reset()
    if bench_setup.device.type == "cuda":
        torch.cuda.empty_cache()


@pytest.fixture
def one_thread_on_cpu_smoke_run(bench_setup: BenchSetup) -> Iterator[None]:
    """Run a benchmark of the CPU smoke run on one thread (it times nothing).

    On a loaded runner, OpenMP barriers between two threads stall: in the CPU run measured for the README,
    a CIFAR ResNet-1202 forward pass took 50 s instead of one.
    """
    threads = torch.get_num_threads()
    if bench_setup.tiny:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record the benchmarked device and the library versions in the results JSON."""
    device = selected_device(config)
    machine_info.update(bench_device=device.type, bench_device_name=device_name(device), torch=torch.__version__,
                        torchvision=torchvision.__version__, timm=timm.__version__,
                        resnet_zoo=resnet_zoo.__version__)
    if device.type == "cuda":
        machine_info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
