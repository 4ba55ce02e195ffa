"""Numeric precision of training and inference: bf16 where the hardware computes it natively, else float32.

``--precision auto`` resolves to ``"bf16"`` on a GPU with bf16 and on a CPU with native bf16 matrix units
(AVX512-BF16 or AMX, as torch detects them at run time, not guessed from the vendor), and to ``"fp32"``
elsewhere: on a CPU without them bf16 is emulated and several times slower than float32.

Training always runs channels_last; bf16 means autocast (the weights stay float32). Inference in its fast
form (`inference_model`) also folds every BatchNorm into its convolution; ``"fp32"`` inference runs the model
exactly as loaded.
"""
import argparse
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .errors import ZooError
from .fuse import fuse_bn

PRECISIONS = ("auto", "bf16", "fp32")
"""Values of ``--precision``."""


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (CUDA with bf16; a CPU with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: ``precision`` itself, or for ``"auto"`` what ``device`` runs natively.

    Raises:
        ZooError: If ``precision`` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ZooError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
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


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--precision`` option of inference (``validate``, ``predict``) to ``parser``."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: BatchNorm folded, channels_last, bf16 where the device computes it natively; "
                             "bf16: the same in bf16 anywhere; fp32: the model exactly as loaded (default: auto)")
