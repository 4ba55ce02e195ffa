"""Where and how big the benchmarks run: full sizes on a GPU, a tiny smoke run on CPU."""
import platform
from dataclasses import dataclass
from typing import Optional

import torch

CIFAR = "cifar"
"""Family of 32x32-input models (CIFAR ResNets and the plain reference)."""
IMAGENET = "imagenet"
"""Family of ImageNet-layout models (zoo_resnet*, timm and torchvision ResNets)."""
NUM_CLASSES = {CIFAR: 10, IMAGENET: 1000}


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), its native bf16 units and its thread count.

    E.g. ``AMD EPYC, AVX512-BF16 (2 cores)``: CPUs sold under one name differ in the units that decide bf16 speed.
    """
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    units = [unit for unit, probe in (("AVX512-BF16", "_is_avx512_bf16_supported"), ("AMX", "_is_amx_tile_supported"))
             if getattr(torch.cpu, probe, lambda: False)()]
    name = ", ".join([name or platform.processor() or platform.machine(), *units])
    return f"{name} ({torch.get_num_threads()} cores)"


def device_name(device: torch.device) -> str:
    """Human-readable name of ``device``: the GPU's name, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


@dataclass(frozen=True)
class BenchSetup:
    """Device, batch sizes and timing rounds of a benchmark run.

    Args:
        device: Device the models and inputs live on.
        cifar_batch_train: Batch of a CIFAR training step.
        cifar_batch_infer: Batch of a CIFAR inference call.
        imagenet_batch: Batch of an ImageNet-family training step or inference call.
        imagenet_size: Height and width of ImageNet-family inputs (CIFAR inputs are always 32x32).
        warmup_rounds: Untimed calls before timing (the first one compiles and autotunes).
        rounds: Timed calls.
        tiny: CPU smoke run: only the variants that `skip_reason` lets through.
    """

    device: torch.device
    cifar_batch_train: int
    cifar_batch_infer: int
    imagenet_batch: int
    imagenet_size: int
    warmup_rounds: int
    rounds: int
    tiny: bool

    SMOKE_MODEL = "cifar_resnet20"
    """The one model whose bf16 and compiled variants also run in the CPU smoke run."""
    UNTRAINED_ON_CPU = ("cifar_resnet1202", "zoo_resnet152")
    """The models whose training step the CPU smoke run leaves out."""

    @classmethod
    def for_device(cls, device: torch.device) -> "BenchSetup":
        """The issue's sizes on CUDA; on CPU batch 2, 64x64 ImageNet-family inputs and one timed call."""
        if device.type == "cuda":
            return cls(device, 512, 1024, 256, 224, warmup_rounds=3, rounds=10, tiny=False)
        return cls(device, 2, 2, 2, 64, warmup_rounds=1, rounds=1, tiny=True)

    def batch(self, family: str, training: bool) -> int:
        """Batch size of a training step (``training``) or an inference call for a model of ``family``."""
        if family == CIFAR:
            return self.cifar_batch_train if training else self.cifar_batch_infer
        return self.imagenet_batch

    def image_size(self, family: str) -> int:
        """Input height and width for a model of ``family``."""
        return 32 if family == CIFAR else self.imagenet_size

    def skip_reason(self, model: str, precision: str, compiled: bool, training: bool) -> Optional[str]:
        """Why a variant does not run in this setup, or ``None`` when it does.

        The CPU smoke run keeps to about three minutes on two cores: every model runs fp32 eager (and fused),
        `SMOKE_MODEL` also runs bf16, and compiles its fp32 inference (compiling a training step takes
        minutes on CPU).
        """
        if not self.tiny:
            return None
        if model != self.SMOKE_MODEL and (compiled or precision != "fp32"):
            return f"the CPU smoke run runs only {self.SMOKE_MODEL} in bf16 or compiled"
        if compiled and (training or precision != "fp32"):
            return "the CPU smoke run compiles only fp32 inference"
        if training and model in self.UNTRAINED_ON_CPU:
            return f"the CPU smoke run does not train {model}"
        return None

    def synchronize(self) -> None:
        """Wait for all queued device work (a no-op on CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
