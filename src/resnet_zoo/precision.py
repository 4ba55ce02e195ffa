"""Numeric precision of training and inference: bf16 where the hardware computes it natively, else float32.

``--precision auto`` resolves to ``"bf16"`` where bf16 is a sure win: on a GPU with bf16, and on a CPU with AMX
tiles (as torch detects them at run time), which train the zoo's models about twice as fast in bf16. It resolves
to ``"fp32"`` on every other CPU. Without any native bf16 unit bf16 is emulated and several times slower; with
AVX512-BF16 alone its speed depends on the microarchitecture, not on a flag torch can read: measured on the
CIFAR ResNets, 0.65-0.8x float32 on an Intel Xeon whose AMX is hidden (its bf16 dot product has no more
throughput than its float32 FMA) against about 1.5x on an AMD Zen 4. There ``resnet-zoo train`` measures
(`resnet_zoo.probe`), and ``--precision bf16`` opts in elsewhere.

Training always runs channels_last; bf16 means autocast (the weights stay float32). Inference in its fast
form (`inference_model`) also folds every BatchNorm into its convolution; ``"fp32"`` inference runs the model
exactly as loaded. The batches follow the model: `is_channels_last` tells a loader which memory format to make.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .constants import PRECISIONS
from .errors import ZooError
from .fuse import fuse_bn


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (CUDA with bf16; a CPU with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 is sure to be faster than float32 on ``device``: CUDA with bf16, or a CPU with AMX."""
    if device.type == "cpu":
        return getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return native_bf16(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: ``precision`` itself, or for ``"auto"`` bf16 where `fast_bf16` says so.

    Raises:
        ZooError: If ``precision`` is not one of `resnet_zoo.constants.PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ZooError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return precision


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of a resolved ``precision``: bf16, or ``None`` (no autocast) for fp32."""
    return torch.bfloat16 if precision == "bf16" else None


def inference_model(model: nn.Module, precision: str, device: torch.device) -> Tuple[nn.Module, Optional[torch.dtype]]:
    """``model`` on ``device`` in eval mode, ready to run at ``precision`` (``"auto"``, ``"bf16"`` or ``"fp32"``).

    ``"fp32"`` keeps the model exactly as it is; otherwise the BatchNorms are folded (`resnet_zoo.fuse.fuse_bn`)
    and the model is channels_last, in bf16 autocast where ``precision`` resolves to bf16.

    Returns:
        ``(model, autocast dtype or None)``.
    """
    model = model.eval()
    if precision == "fp32":
        return model.to(device), None
    dtype = autocast_dtype(resolve_precision(precision, device))
    return fuse_bn(model).to(device, memory_format=torch.channels_last), dtype


def is_channels_last(model: nn.Module) -> bool:
    """Whether ``model``'s convolutions are channels_last, so that its inputs should be too: its first 4-D weight
    whose two memory formats differ says (a training model and the fast `inference_model` are; a model as loaded
    is not)."""
    for weight in model.parameters():
        if weight.dim() == 4 and weight.is_contiguous() != weight.is_contiguous(memory_format=torch.channels_last):
            return weight.is_contiguous(memory_format=torch.channels_last)
    return False

