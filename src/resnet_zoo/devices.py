"""The devices the zoo runs on: the one a command's ``--device`` names, and what a run trains on, as its card and
the precision probe's cache record it."""
import platform
from typing import Optional

import torch

from .errors import ZooError
from .precision import fast_bf16


def resolve_device(name: Optional[str] = None) -> torch.device:
    """The device called ``name``, or CUDA when it is available and ``name`` is ``None``, else the CPU.

    Raises:
        ZooError: If ``name`` is not a device, or names one that torch cannot use here (CUDA where there is none,
            ``mps`` off a Mac, a GPU index past the last).
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ZooError(f"invalid --device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"--device {name} asked for CUDA, but torch sees no CUDA device")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError):  # torch built without the backend, or no such device index
        raise ZooError(f"--device {name}: torch cannot use this device on this machine; use cpu"
                       f"{' or cuda' if torch.cuda.is_available() else ''}") from None
    return device


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or ``platform.processor()`` where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown model"


def hardware(device: torch.device, world_size: int = 1) -> str:
    """What a run trains on, as its model card says: the GPUs by name, or the CPU's model, vector unit and threads
    (e.g. ``"CPU: Intel(R) Xeon(R) Processor, AVX512, 2 threads"``)."""
    if device.type == "cuda":
        return f"{world_size}x {torch.cuda.get_device_name(device)}"
    cpu = (f"CPU: {cpu_model()}, {torch.backends.cpu.get_cpu_capability()}"
           f"{', AMX' if fast_bf16(device) else ''}, {_count(torch.get_num_threads(), 'thread')}")
    return f"{world_size} processes, each {cpu}" if world_size > 1 else cpu


def _count(n: int, noun: str) -> str:
    """``1 thread``, ``2 threads``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
