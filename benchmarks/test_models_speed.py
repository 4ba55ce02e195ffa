"""Throughput of every resnet_zoo model next to timm, torchvision and the reference CIFAR ResNet-56, in one run.

Each benchmark times one training step (forward, backward, optimizer step) or one inference call on a fixed
random batch, with the device synchronised before and after each timed call. Variants: fp32, or bf16 autocast
with channels_last model and inputs; eager or torch.compile; for inference also the `resnet_zoo.fuse_bn`
model. ``benchmarks/report.py`` turns the ``--benchmark-json`` output into the docs' table.
"""
import contextlib
from typing import Callable, ContextManager, List, NamedTuple

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from bench_setup import CIFAR, IMAGENET, NUM_CLASSES, BenchSetup
from reference_resnet import CifarResNet

import resnet_zoo
from resnet_zoo.resnet import CIFAR_MODELS, MODELS
PRECISIONS = ("fp32", "bf16")
"""``bf16`` means bf16 autocast with channels_last model and inputs."""
MODES = ("eager", "compile")


class Subject(NamedTuple):
    """A benchmarked model: its name in the results, its family and how to build it."""

    name: str
    family: str
    build: Callable[[], nn.Module]

    @property
    def fusable(self) -> bool:
        """Whether `resnet_zoo.fuse_bn` applies (resnet_zoo models only)."""
        return self.name in MODELS


def zoo_subject(name: str) -> Subject:
    return Subject(name, CIFAR if name in CIFAR_MODELS else IMAGENET, lambda: timm.create_model(name))


SUBJECTS = [zoo_subject(name) for name in MODELS] + [
    Subject("reference_resnet56", CIFAR, CifarResNet),
    Subject("timm_resnet18", IMAGENET, lambda: timm.create_model("resnet18")),
    Subject("timm_resnet50", IMAGENET, lambda: timm.create_model("resnet50")),
    Subject("torchvision_resnet50", IMAGENET, torchvision.models.resnet50),
]


def variants(inference: bool) -> List:
    """``(subject, precision, mode, fused)`` for every benchmark of a task; fused only for inference."""
    return [pytest.param(subject, precision, mode, fused,
                         id="-".join([subject.name, precision, mode] + (["fused"] if fused else [])))
            for subject in SUBJECTS for precision in PRECISIONS for mode in MODES
            for fused in ((False, True) if inference and subject.fusable else (False,))]


def autocast(precision: str, device: torch.device) -> ContextManager:
    """bf16 autocast for ``"bf16"``, nothing for ``"fp32"``."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def prepare(model: nn.Module, precision: str, mode: str, setup: BenchSetup) -> nn.Module:
    """Move ``model`` to the device (channels_last for bf16) and compile it (whole graph) for ``"compile"``."""
    model = model.to(setup.device)
    if precision == "bf16":
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model, fullgraph=True) if mode == "compile" else model


def random_images(setup: BenchSetup, family: str, batch: int, precision: str) -> torch.Tensor:
    size = setup.image_size(family)
    images = torch.randn(batch, 3, size, size, device=setup.device)
    return images.contiguous(memory_format=torch.channels_last) if precision == "bf16" else images


def start(benchmark, setup: BenchSetup, subject: Subject, task: str, precision: str, mode: str,
          fused: bool) -> int:
    """Skip a variant this setup leaves out, record what ``report.py`` needs, and return the batch size."""
    reason = setup.skip_reason(subject.name, precision, compiled=mode == "compile", training=task == "train")
    if reason:
        pytest.skip(reason)
    torch.manual_seed(0)
    batch = setup.batch(subject.family, training=task == "train")
    benchmark.group = f"{task}-{precision}-{subject.family}"
    benchmark.extra_info.update(model=subject.name, family=subject.family, task=task, precision=precision,
                                mode=mode, fused=fused, batch=batch, image_size=setup.image_size(subject.family),
                                device=setup.device.type)
    return batch


def time_call(benchmark, setup: BenchSetup, call: Callable[[], None]) -> None:
    """Benchmark ``call`` with the device synchronised before and after each timed call."""
    def synchronised_call() -> None:
        call()
        setup.synchronize()

    benchmark.pedantic(synchronised_call, setup=setup.synchronize, rounds=setup.rounds,
                       warmup_rounds=setup.warmup_rounds)


@pytest.mark.usefixtures("fresh_compiler", "one_thread_on_cpu_smoke_run")
@pytest.mark.parametrize("subject, precision, mode, fused", variants(inference=False))
def test_train_step(benchmark, bench_setup: BenchSetup, subject: Subject, precision: str, mode: str, fused: bool):
    batch = start(benchmark, bench_setup, subject, "train", precision, mode, fused)
    eager_model = subject.build().train()
    model = prepare(eager_model, precision, mode, bench_setup)
    optimizer = torch.optim.SGD(eager_model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = random_images(bench_setup, subject.family, batch, precision)
    labels = torch.randint(0, NUM_CLASSES[subject.family], (batch,), device=bench_setup.device)

    def train_step() -> None:
        with autocast(precision, bench_setup.device):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    time_call(benchmark, bench_setup, train_step)


@pytest.mark.usefixtures("fresh_compiler", "one_thread_on_cpu_smoke_run")
@pytest.mark.parametrize("subject, precision, mode, fused", variants(inference=True))
def test_inference(benchmark, bench_setup: BenchSetup, subject: Subject, precision: str, mode: str, fused: bool):
    batch = start(benchmark, bench_setup, subject, "inference", precision, mode, fused)
    model = subject.build().eval()
    model = prepare(resnet_zoo.fuse_bn(model) if fused else model, precision, mode, bench_setup)
    images = random_images(bench_setup, subject.family, batch, precision)

    @torch.inference_mode()
    def infer() -> None:
        with autocast(precision, bench_setup.device):
            model(images)

    time_call(benchmark, bench_setup, infer)
