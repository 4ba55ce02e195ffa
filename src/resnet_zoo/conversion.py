"""Convert torchvision, timm and CIFAR ResNet checkpoints into Hub model folders (``resnet-zoo convert`` runs it).

torchvision's and timm's ResNets already use resnet_zoo's parameter names. CIFAR checkpoints of the common
layouts are renamed: a nested ``state_dict``/``model``/``net`` entry is unwrapped, ``module.`` (DataParallel)
and ``_orig_mod.`` (``torch.compile``) prefixes are dropped, a ``linear`` head becomes ``fc``, and the widely used
CIFAR reproduction's ``shortcut.0``/``shortcut.1`` (option B) become ``downsample.0``/``downsample.1``; its option
A shortcut has no parameters, so a checkpoint without any ``downsample`` is built with ``shortcut="A"``.

Weights made elsewhere keep what their source says about them (see `resnet_zoo.hub.export`): the input
normalisation they were trained with goes into ``config.json``, their source, reported accuracy and licence text
into the model card.

Only safe readers are used: ``.safetensors`` with safetensors, anything else with
``torch.load(weights_only=True)`` (``argparse.Namespace`` allowed, as in timm's training checkpoints). A
checkpoint that needs arbitrary unpickling is refused.
"""
import argparse
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch
from timm.models import clean_state_dict

from .errors import WeightsError
from .hub import export
from .factory import build_from_state_dict
from .weights import read_state_dict

__all__ = ["read_checkpoint", "to_zoo_names", "convert"]

NESTED_KEYS = ("state_dict", "model", "net")
"""Entries of a training checkpoint that hold the model's state dict, in order of preference."""

RENAMES = (
    (re.compile(r"^linear\."), "fc."),
    (re.compile(r"\.shortcut\.(\d)\."), r".downsample.\1."),
)
"""(pattern, replacement) applied in turn to every key, after prefixes are removed."""


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``; refuses, saying why, a file that needs arbitrary unpickling, and calls a
    file that torch cannot read at all what it is: not a checkpoint."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        needs = sorted(set(re.findall(r"GLOBAL ([\w.]+)", str(e))))
        if not needs:
            raise _not_a_checkpoint(path) from None
        raise WeightsError(
            f"{path}: refused: it holds Python objects ({', '.join(needs)}), and unpickling them can run code, so "
            f"resnet_zoo never does; in a trusted environment, re-save only the tensors "
            f"(torch.save(model.state_dict(), ...) or safetensors)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise _not_a_checkpoint(path, e) from None


def _not_a_checkpoint(path: Path, error: Optional[Exception] = None) -> WeightsError:
    detail = f": {error}" if isinstance(error, OSError) else ""
    return WeightsError(f"{path}: not a PyTorch checkpoint (a torch.save file of tensors, or .safetensors){detail}")


def read_checkpoint(path: Path) -> Dict[str, torch.Tensor]:
    """The state dict in a checkpoint file, unwrapped from a training checkpoint if nested.

    Args:
        path: ``.safetensors``, or a ``torch.save`` file (``.pth``, ``.pt``, ``.bin``, ``.th``, …).

    Returns:
        The tensors, with the names the checkpoint uses.

    Raises:
        WeightsError: If the file cannot be read safely or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        return read_state_dict([path])
    checkpoint = _torch_load(path)
    if isinstance(checkpoint, Mapping):
        nested = next((checkpoint[k] for k in NESTED_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
        state_dict = nested if nested is not None else checkpoint
        if state_dict and all(isinstance(v, torch.Tensor) for v in state_dict.values()):
            return dict(state_dict)
        keys = list(checkpoint)[:8]
    else:
        keys = type(checkpoint).__name__
    raise WeightsError(f"{path}: holds no state dict of tensors (top level: {keys}; a nested one is looked for "
                       f"under {', '.join(NESTED_KEYS)})")


def to_zoo_names(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state_dict`` with resnet_zoo's names (see the module docstring).

    BatchNorm layers saved by PyTorch < 0.4.1 lack ``num_batches_tracked``; it only counts training steps and
    is added as 0.
    """
    renamed = {}
    for key, value in clean_state_dict(dict(state_dict)).items():
        for pattern, replacement in RENAMES:
            key = pattern.sub(replacement, key)
        renamed[key] = value
    for key in [k for k in renamed if k.endswith(".running_mean")]:
        renamed.setdefault(key[:-len("running_mean")] + "num_batches_tracked", torch.tensor(0))
    return renamed


def convert(src: Path, out_dir: Path, *, model: str, tag: str, **card: Any) -> Path:
    """Convert checkpoint ``src`` into the model folder ``out_dir`` for resnet_zoo architecture ``model``.

    Args:
        src: Checkpoint file (see `read_checkpoint`).
        out_dir: Model folder to write.
        model: resnet_zoo architecture, e.g. ``"zoo_resnet50"``; ``num_classes``, ``in_chans`` and the shortcut
            type come from the checkpoint.
        tag: Pretrained tag of the weights, e.g. ``"tv_in1k"``.
        **card: Further keyword arguments of `resnet_zoo.hub.export` (dataset, metrics, the source's
            ``pretrained_cfg`` mean/std and licence, ``source``, ``source_top1``, ``license_text``, …).

    Returns:
        The folder written.

    Raises:
        WeightsError: If ``src`` cannot be read safely or does not fit ``model``.
    """
    state_dict = to_zoo_names(read_checkpoint(src))
    return export(build_from_state_dict(model, state_dict, source=str(src)), out_dir, tag=tag, **card)
