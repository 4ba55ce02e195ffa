"""``--precision auto`` for training where no flag says whether bf16 is faster: a CPU with native bf16 but no AMX.

There bf16 wins on some microarchitectures (about 1.5x float32 on an AMD Zen 4) and loses on others (0.65-0.8x on
an Intel Xeon whose AMX is hidden), so `choose_precision` measures: a few training steps of the run's model in
float32 and in bf16 autocast, channels_last as the recipe trains, on random images, in a few seconds. The faster
wins; the figures are cached per CPU model and model name (``$XDG_CACHE_HOME/resnet-zoo/precision-probes.json``),
printed, and recorded with the sitting in the run's state and model card. Everywhere else ``auto`` is
`resnet_zoo.precision.resolve_precision`'s rule.
"""
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from .checkpoint import write_atomic
from .devices import cpu_model
from .engine import build_training
from .precision import fast_bf16, native_bf16, resolve_precision
from .recipe import Recipe

PROBE_SECONDS = 1.0
"""Timed training of each precision, after one warm-up step (at least one timed step)."""
PROBE_PIXELS = 32 * 32 * 32
"""Pixels of a probe batch: 32 CIFAR images, fewer (at least 4) of a larger input size."""


@dataclass(frozen=True)
class Probe:
    """What a probe measured: the images per second of each precision, and the faster one.

    Attributes:
        precision: The faster, ``"bf16"`` or ``"fp32"``.
        img_per_s: Training images per second, by precision.
        cached: Whether the figures come from the cache of an earlier probe on this CPU.
    """

    precision: str
    img_per_s: Dict[str, float]
    cached: bool = False

    def describe(self) -> str:
        """``auto, probed: bf16 319 img/s, fp32 225 img/s``."""
        figures = ", ".join(f"{p} {v:,.0f} img/s" for p, v in sorted(self.img_per_s.items()))
        return f"auto, probed{' earlier' if self.cached else ''}: {figures}"


def cache_file() -> Path:
    """Where probes are cached: ``$XDG_CACHE_HOME/resnet-zoo/precision-probes.json`` (``~/.cache`` by default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resnet-zoo" / "precision-probes.json"


def choose_precision(precision: str, device: torch.device, model: str) -> Tuple[str, Optional[Probe]]:
    """The training precision of ``--precision`` on ``device`` for ``model``, and the probe that chose it, if any.

    ``auto`` on a CPU with native bf16 but no AMX probes (`probe_precision`); otherwise it resolves as
    `resnet_zoo.precision.resolve_precision` does, without a probe.

    Raises:
        ZooError: If ``precision`` is not one of `resnet_zoo.constants.PRECISIONS`.
    """
    resolved = resolve_precision(precision, device)
    if precision != "auto" or device.type != "cpu" or fast_bf16(device) or not native_bf16(device):
        return resolved, None
    probe = probe_precision(model, device)
    return probe.precision, probe


def probe_precision(model: str, device: torch.device) -> Probe:
    """Train ``model`` for a moment in fp32 and in bf16 on ``device`` and return the faster, from the cache of an
    earlier probe of ``model`` on this CPU model and thread count when there is one."""
    key = f"{cpu_model()}|{torch.get_num_threads()} threads|{model}"
    cache = _read_cache()
    if _valid_figures(cache.get(key)):
        figures = cache[key]
        return Probe(max(figures, key=figures.get), figures, cached=True)
    figures = {precision: _train_rate(model, precision, device) for precision in ("fp32", "bf16")}
    cache[key] = figures
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(cache, indent=1), encoding="utf-8"))
    except OSError:
        pass  # a cache that cannot be written only costs the next run its few seconds of probing
    return Probe(max(figures, key=figures.get), figures)


def _valid_figures(figures: Any) -> bool:
    """Whether a cache entry holds a positive rate for each precision (else the probe runs again)."""
    return isinstance(figures, dict) and set(figures) == {"fp32", "bf16"} and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        for v in figures.values())


def _read_cache() -> Dict[str, Dict[str, float]]:
    try:
        cache = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _train_rate(model: str, precision: str, device: torch.device) -> float:
    """Images per second of the recipe's training step of ``model`` at ``precision`` on random images."""
    training = build_training(Recipe(model=model, epochs=1, precision=precision), device)
    size = training.model.pretrained_cfg["input_size"]
    batch = max(4, PROBE_PIXELS // (size[1] * size[2]))
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, *size, generator=generator).to(device, memory_format=torch.channels_last)
    labels = torch.randint(0, training.model.num_classes, (batch,), generator=generator).to(device)
    training.step(images, labels, lr=0.01, step=1)  # builds the kernels
    steps, start = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - start < PROBE_SECONDS:
        training.step(images, labels, lr=0.01, step=steps + 2)
        steps += 1
    return steps * batch / (time.perf_counter() - start)
