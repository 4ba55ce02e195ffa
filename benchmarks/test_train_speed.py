"""Training throughput of the zoo's recipe next to the plain eager loop, measured in the same run.

Both loops train a CIFAR ResNet-56 at the recipe's batch size on the same kind of device-resident batches
(random uint8 images through `resnet_zoo.cifar.DeviceLoader`: crop, flip and normalisation on the device):

* ``reference``: `CifarResNet` of ``tests/reference_resnet.py`` in bf16 autocast with channels_last model and
  inputs, eager, SGD with Nesterov momentum: the loop a researcher writes;
* ``recipe``: `resnet_zoo.engine.build_training` with the recipe's defaults for the device (on CUDA:
  torch.compile with CUDA graphs, fused SGD, bf16 autocast, channels_last, EMA; on a CPU eager, channels_last,
  bf16 autocast only where native; see ``test_cpu_speed.py`` for the CPU's own comparison),
  stepped by `resnet_zoo.engine.train_one_epoch`.

Each timed call is `steps_per_call` training steps ended by waiting for the device; ``extra_info["img_per_s"]``
holds the images per second of the median call. On CUDA the recipe must train at least ``report.RECIPE_SPEEDUP``
times as many images per second as the reference. On CPU this is a smoke run at tiny sizes (``--benchmark-disable``).
"""
from typing import Callable, Dict

import pytest
import torch
import torch.nn as nn
from bench_setup import BenchSetup
from reference_resnet import CifarResNet
from report import RECIPE_SPEEDUP

from resnet_zoo.cifar import CifarSplit, DeviceLoader
from resnet_zoo.cifar_constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from resnet_zoo.engine import build_training, train_one_epoch
from resnet_zoo.precision import resolve_precision
from resnet_zoo.recipe import Recipe


IMAGES_PER_SECOND: Dict[str, float] = {}
"""Median images per second of each loop measured in this run, by loop name."""


def steps_per_call(setup: BenchSetup) -> int:
    """Training steps in one timed call: enough to dwarf the final sync on CUDA, one on the CPU smoke run."""
    return 1 if setup.tiny else 20


def random_split(images: int) -> CifarSplit:
    generator = torch.Generator().manual_seed(0)
    return CifarSplit(torch.randint(0, 256, (images, 32, 32, 3), dtype=torch.uint8, generator=generator),
                      torch.randint(0, 10, (images,), generator=generator), CIFAR10_CLASSES)


def recipe_loop(setup: BenchSetup, split: CifarSplit, recipe: Recipe) -> Callable[[], None]:
    """One pass of the recipe's training over ``split``, with everything the recipe does on this device."""
    training = build_training(recipe, setup.device)
    loader = training.loaders(split, split)[0]

    def run() -> None:
        train_one_epoch(training, loader, epoch=0)  # waits for the device at the end

    return run


def reference_loop(setup: BenchSetup, split: CifarSplit, recipe: Recipe) -> Callable[[], None]:
    """One pass of the plain eager loop over ``split``: bf16 autocast, channels_last, Nesterov SGD."""
    device = setup.device
    model = CifarResNet().to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                                weight_decay=recipe.wd)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    loader = DeviceLoader(split, recipe.batch_size, CIFAR10_MEAN, CIFAR10_STD, device, train=True,
                          generator=torch.Generator(device=device).manual_seed(0), channels_last=True)

    def run() -> None:
        total = torch.zeros((), device=device)
        for images, labels in loader:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += loss.detach()
        total.item()  # waits for the device, as train_one_epoch does

    return run


LOOPS = {"reference": reference_loop, "recipe": recipe_loop}


@pytest.mark.usefixtures("fresh_compiler")
@pytest.mark.parametrize("loop", list(LOOPS))
def test_train_throughput(benchmark, bench_setup: BenchSetup, loop: str):
    torch.manual_seed(0)
    recipe = Recipe(model="cifar_resnet56", batch_size=bench_setup.cifar_batch_train,
                    precision=resolve_precision("auto", bench_setup.device))
    steps = steps_per_call(bench_setup)
    run = LOOPS[loop](bench_setup, random_split(steps * recipe.batch_size), recipe)
    benchmark.group = "train-recipe-vs-reference"
    benchmark.extra_info.update(loop=loop, model="cifar_resnet56", batch=recipe.batch_size, steps_per_call=steps,
                                device=bench_setup.device.type)
    benchmark.pedantic(run, setup=bench_setup.synchronize, rounds=bench_setup.rounds,
                       warmup_rounds=bench_setup.warmup_rounds)
    if benchmark.stats is not None:  # None under --benchmark-disable
        IMAGES_PER_SECOND[loop] = steps * recipe.batch_size / benchmark.stats.stats.median
        benchmark.extra_info["img_per_s"] = IMAGES_PER_SECOND[loop]
        if loop != "reference" and "reference" in IMAGES_PER_SECOND:
            benchmark.extra_info["speedup"] = IMAGES_PER_SECOND[loop] / IMAGES_PER_SECOND["reference"]


def test_recipe_trains_at_least_twice_as_fast_as_the_reference(bench_setup: BenchSetup):
    if bench_setup.device.type != "cuda":
        pytest.skip("the speed-up is a requirement on CUDA; the CPU run is a smoke test")
    if set(IMAGES_PER_SECOND) != set(LOOPS):
        pytest.skip("needs both test_train_throughput benchmarks measured in this run (not --benchmark-disable)")
    speedup = IMAGES_PER_SECOND["recipe"] / IMAGES_PER_SECOND["reference"]
    assert speedup >= RECIPE_SPEEDUP, \
        f"recipe {IMAGES_PER_SECOND['recipe']:,.0f} img/s is {speedup:.2f}x the reference " \
        f"{IMAGES_PER_SECOND['reference']:,.0f} img/s"
