"""On the CPU: the recipe's training and the fast inference path against what a user of the peers' code gets.

* training, ``reference``: the plain CIFAR ResNet of ``tests/reference_resnet.py``, fp32, eager, NCHW, batch 128,
  fed by a torchvision DataLoader (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize on PIL
  images, one worker per core), Nesterov SGD: the training scripts of the peers' CIFAR ResNets;
* training, ``recipe``: `resnet_zoo.engine.train_one_epoch` at the recipe's defaults for this CPU (precision
  ``auto`` as ``resnet-zoo train`` chooses it, by `resnet_zoo.probe` on a CPU with native bf16 but no AMX,
  channels_last, batch 512, EMA, augmentation on the device); a call is a whole epoch;
* training, ``compiled``: the same epoch with the step compiled by ``torch.compile`` (inductor's C++ kernels;
  ``resnet-zoo train --compile``), its compilation in the warm-up call; not in the smoke run (it takes a minute);
* training, ``step``: the same recipe's bare step (`resnet_zoo.engine.TrainStep`) over the same batches, made
  beforehand: what the loop's own work (augmentation, EMA, schedule, logging) is measured against;
* inference, ``reference``: the zoo model as loaded, eager fp32, batch 256; ``fast``: the same model through
  `resnet_zoo.precision.inference_model` at ``auto`` (BatchNorm folded, channels_last, bf16 where native);
  ``onnxruntime``: its ``resnet-zoo export-onnx`` graph (`resnet_zoo.onnx_export`, folded, fp32) in ONNX Runtime's
  CPU provider with as many threads as torch, same batches: what a CPU user deploys instead.

Each timed call is one pass over `IMAGES` images (two timed calls after one warm-up); ``extra_info["img_per_s"]``
holds the rate of the median call. The targets compare rates measured in the same run (``report.CPU_TARGETS``, which
the report checks too). ``benchmarks/run_cpu.sh`` runs this file and writes its JSON and Markdown under
``benchmarks/results/``; under ``--benchmark-disable`` (the CI smoke run) every loop runs once on a few images and
no target is checked.
"""
import tempfile
from pathlib import Path
from typing import Callable, Dict, Tuple

import onnxruntime
import pytest
import timm
import torch
import torch.nn as nn
import torchvision.transforms as T
from PIL import Image
from reference_resnet import CifarResNet
from report import CPU_TARGETS
from torch.utils.data import DataLoader, Dataset

from resnet_zoo.cifar import CifarSplit
from resnet_zoo.cifar_constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from resnet_zoo.engine import build_training, train_one_epoch
from resnet_zoo.onnx_export import INPUT_NAME, OUTPUT_NAME, export_onnx
from resnet_zoo.precision import inference_model
from resnet_zoo.probe import choose_precision
from resnet_zoo.recipe import Recipe
from resnet_zoo.resnet import CIFAR_DEPTHS

MODELS = ("cifar_resnet20", "cifar_resnet56")
IMAGES = {"train": 1024, "inference": 2048}
"""Images of one timed call, by task (multiples of every batch size below)."""
SMOKE_IMAGES = 16
"""Images of the single untimed call of the smoke run."""
REFERENCE_TRAIN_BATCH = 128
INFER_BATCH = 256
CPU = torch.device("cpu")

RATES: Dict[Tuple[str, str, str], float] = {}
"""Images per second of the median call, by (task, model, loop), measured in this run."""


def random_split(images: int) -> CifarSplit:
    generator = torch.Generator().manual_seed(0)
    return CifarSplit(torch.randint(0, 256, (images, 32, 32, 3), dtype=torch.uint8, generator=generator),
                      torch.randint(0, 10, (images,), generator=generator), CIFAR10_CLASSES)


class PilImages(Dataset):
    """A split as PIL images through torchvision transforms, as the peers' scripts read CIFAR."""

    def __init__(self, split: CifarSplit, transform: Callable):
        self.split, self.transform = split, transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.split.images[i].numpy())), int(self.split.labels[i])


def reference_training(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """One pass of the plain fp32 eager loop over ``split``, fed by a torchvision DataLoader."""
    network = CifarResNet(n=CIFAR_DEPTHS[int(model.removeprefix("cifar_resnet"))]).train()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    loader = DataLoader(PilImages(split, transform), batch_size=min(REFERENCE_TRAIN_BATCH, len(split)),
                        shuffle=True, num_workers=0 if smoke else torch.get_num_threads(), drop_last=True)

    def run() -> None:
        for images, labels in loader:
            loss = criterion(network(images), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return run


def _recipe(model: str, split: CifarSplit, smoke: bool, compile: bool = False):
    """The recipe's training state and train loader over ``split`` (at batch 8 in the smoke run)."""
    batch = dict(batch_size=8) if smoke else {}
    precision = choose_precision("auto", CPU, model)[0]  # as `resnet-zoo train` chooses it, by a probe where need be
    training = build_training(Recipe(model=model, precision=precision, **batch), CPU, compile)
    return training, training.loaders(split, split)[0]


def recipe_training(model: str, split: CifarSplit, smoke: bool, compile: bool = False) -> Callable[[], None]:
    """One epoch of the recipe over ``split``, with everything it does on this CPU."""
    training, loader = _recipe(model, split, smoke, compile)
    return lambda: train_one_epoch(training, loader, epoch=0)


def compiled_training(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """`recipe_training` with the step compiled (``resnet-zoo train --compile``)."""
    if smoke:
        pytest.skip("compiling a training step takes a minute on a CPU: not in the smoke run")
    return recipe_training(model, split, smoke, compile=True)


def step_training(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """The recipe's bare step over one epoch of its batches, augmented and normalised beforehand."""
    training, loader = _recipe(model, split, smoke)
    batches = list(loader)

    def run() -> None:
        for step, (images, labels) in enumerate(batches, start=1):
            training.step(images, labels, training.recipe.lr, step)

    return run


def reference_inference(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """Plain eager fp32 inference of the zoo model over ``split``."""
    return _inference(timm.create_model(model).eval(), None, split)


def fast_inference(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """The inference of ``validate``/``predict`` at ``--precision auto`` over ``split``."""
    return _inference(*inference_model(timm.create_model(model), "auto", CPU), split, channels_last=True)


def onnxruntime_inference(model: str, split: CifarSplit, smoke: bool) -> Callable[[], None]:
    """The zoo model's ONNX export run by ONNX Runtime over ``split``, with torch's thread count."""
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(timm.create_model(model), Path(tmp) / f"{model}.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = split.images.permute(0, 3, 1, 2).float().div(255).contiguous().numpy()

    def run() -> None:
        for start in range(0, len(images), INFER_BATCH):
            session.run([OUTPUT_NAME], {INPUT_NAME: images[start:start + INFER_BATCH]})

    return run


def _inference(network: nn.Module, dtype, split: CifarSplit, channels_last: bool = False) -> Callable[[], None]:
    images = split.images.permute(0, 3, 1, 2).float().div(255)
    images = images.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    @torch.inference_mode()
    def run() -> None:
        for batch in images.split(INFER_BATCH):
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                network(batch)

    return run


LOOPS = {
    "train": {"reference": reference_training, "recipe": recipe_training, "compiled": compiled_training,
              "step": step_training},
    "inference": {"reference": reference_inference, "fast": fast_inference, "onnxruntime": onnxruntime_inference},
}


@pytest.mark.parametrize("task, loop", [(task, loop) for task, loops in LOOPS.items() for loop in loops])
@pytest.mark.parametrize("model", MODELS)
def test_cpu_throughput(benchmark, model: str, task: str, loop: str):
    torch.manual_seed(0)
    images = SMOKE_IMAGES if benchmark.disabled else IMAGES[task]
    run = LOOPS[task][loop](model, random_split(images), benchmark.disabled)
    benchmark.group = f"cpu-{task}-{model}"
    benchmark.extra_info.update(task=task, model=model, loop=loop, images=images)
    benchmark.pedantic(run, rounds=2, warmup_rounds=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        RATES[task, model, loop] = benchmark.extra_info["img_per_s"] = images / benchmark.stats.stats.median


@pytest.mark.parametrize("task, loop, baseline, required", CPU_TARGETS)
@pytest.mark.parametrize("model", MODELS)
def test_cpu_speedup_target(model: str, task: str, loop: str, baseline: str, required: float):
    if not {(task, model, baseline), (task, model, loop)} <= set(RATES):
        pytest.skip("needs both loops measured in this run (not --benchmark-disable)")
    ratio = RATES[task, model, loop] / RATES[task, model, baseline]
    assert ratio >= required, f"{model} {task}: {loop} is {ratio:.2f}x the {baseline}, {required}x required"
