"""Training checkpoints as safetensors, never pickles, and their layout.

A checkpoint holds the training state as tensors under prefixes (``model.``, ``ema.``, ``optimizer.``,
``rng.``; `training_state_tensors` packs them, `load_training_state` unpacks them) and the run's JSON-able
state (epoch, recipe, history, …) as one JSON string in the safetensors metadata. Files are written to a
temporary file in the same folder and renamed over the target, so a killed process leaves either the previous
checkpoint or the new one, never half of one.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
from safetensors.torch import save_file

from .errors import WeightsError
from .weights import read_metadata, read_state_dict

STATE_KEY = "resnet_zoo.train_state"
"""Metadata key of the run state; its presence marks a file as a training checkpoint."""

MODEL_PREFIX = "model."
"""Prefix of the trained model's state dict in a checkpoint."""

EMA_PREFIX = "ema."
"""Prefix of the EMA model's state dict (present when the run keeps an EMA)."""

OPTIMIZER_PREFIX = "optimizer."
"""Prefix of the optimizer's tensor state (`optimizer_tensors`)."""

RNG_PREFIX = "rng."
"""Prefix of the random generators' states: ``cpu`` (torch's), ``cuda`` (the training GPU's, on CUDA) and
``data`` (the generator of the train batches)."""



def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Union[str, Path], write: Callable[[Path], None]) -> None:
    """Create ``path`` through ``write(temporary path)`` and an atomic rename; on failure nothing is left.

    The file gets the mode that ``open(path, "w")`` would give it (``0o666`` less the umask), not the ``0o600``
    of a temporary file.

    Args:
        path: The file to create or replace.
        write: Writes the complete file at the path it is given (in the same folder as ``path``).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # after the write: a writer may have replaced the file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_checkpoint(path: Union[str, Path], tensors: Mapping[str, torch.Tensor], state: Dict[str, Any]) -> None:
    """Write a training checkpoint atomically.

    Args:
        path: The ``.safetensors`` file.
        tensors: Tensors by name, on any device and in any memory format (stored contiguous, on the CPU).
        state: JSON-able run state, stored in the metadata.
    """
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    metadata = {STATE_KEY: json.dumps(state)}
    write_atomic(path, lambda tmp: save_file(cpu, str(tmp), metadata=metadata))


def is_checkpoint(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a training checkpoint (rather than a plain weights file).

    Raises:
        WeightsError: If ``path`` is not a readable safetensors file.
    """
    return STATE_KEY in read_metadata(path)


def load_checkpoint(path: Union[str, Path]) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Read a training checkpoint written by `save_checkpoint`.

    Returns:
        ``(tensors on the CPU, run state)``.

    Raises:
        WeightsError: If the file is missing, unreadable, or not a training checkpoint.
    """
    state = read_state(path)
    return read_state_dict([path]), state


def read_state(path: Union[str, Path]) -> Dict[str, Any]:
    """The run state of a training checkpoint, read from its header alone.

    Raises:
        WeightsError: If the file is missing, unreadable, or not a training checkpoint.
    """
    metadata = read_metadata(path)
    if STATE_KEY not in metadata:
        raise WeightsError(f"{path} is a safetensors file but not a resnet-zoo training checkpoint "
                           f"(no {STATE_KEY!r} metadata)")
    try:
        state = json.loads(metadata[STATE_KEY])
    except ValueError as e:
        raise WeightsError(f"{path}: its {STATE_KEY!r} metadata is not JSON ({e})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: its {STATE_KEY!r} metadata is not a JSON object")
    return state


def add_prefix(prefix: str, tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``tensors`` with every name prefixed by ``prefix`` (e.g. a state dict stored under ``"model."``)."""
    return {prefix + name: t for name, t in tensors.items()}


def take_prefix(prefix: str, tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The tensors whose name starts with ``prefix``, with the prefix removed."""
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def eval_weights(tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The state dict that a checkpoint's evaluation measured: the EMA weights if it has them, else the model's."""
    return take_prefix(EMA_PREFIX, tensors) or take_prefix(MODEL_PREFIX, tensors)


def read_eval_weights(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """The state dict to evaluate or export in a safetensors file: a training checkpoint's `eval_weights`, or
    the tensors of a plain weights file.

    Raises:
        WeightsError: If ``path`` is not a readable safetensors file.
    """
    tensors = read_state_dict([path])
    return eval_weights(tensors) if is_checkpoint(path) else tensors


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> Dict[str, torch.Tensor]:
    """The tensor state of ``optimizer`` (e.g. SGD momentum buffers) as ``"{param index}.{name}"``.

    The hyper-parameters are not included: the recipe that built the optimizer sets them again.

    Raises:
        TypeError: If the optimizer keeps non-tensor state (not representable in safetensors).
    """
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"optimizer state {name!r} is a {type(value).__name__}, not a tensor")
            tensors[f"{index}.{name}"] = value
    return tensors


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor]) -> None:
    """Restore the state saved by `optimizer_tensors` into an optimizer built by the same recipe."""
    state: Dict[int, Dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def training_state_tensors(
        model: nn.Module,
        ema: Optional[nn.Module],
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        device: torch.device,
) -> Dict[str, torch.Tensor]:
    """A training state as checkpoint tensors, each part under its prefix.

    Args:
        model: The model being trained (not wrapped).
        ema: The EMA model, or ``None``.
        optimizer: The model's optimizer.
        generator: Source of the train batches' order and augmentations.
        device: Where the model trains (on CUDA its generator's state is kept too).
    """
    tensors = add_prefix(MODEL_PREFIX, model.state_dict())
    if ema is not None:
        tensors.update(add_prefix(EMA_PREFIX, ema.state_dict()))
    tensors.update(add_prefix(OPTIMIZER_PREFIX, optimizer_tensors(optimizer)))
    rng = {"cpu": torch.get_rng_state(), "data": generator.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    tensors.update(add_prefix(RNG_PREFIX, rng))
    return tensors


def load_weights(tensors: Mapping[str, torch.Tensor], model: nn.Module, ema: Optional[nn.Module]) -> None:
    """Load the ``model.`` tensors into ``model`` and the ``ema.`` ones into ``ema`` (when the run keeps one: a
    checkpoint without them gives the EMA the model's weights)."""
    model.load_state_dict(take_prefix(MODEL_PREFIX, tensors))
    if ema is not None:
        ema.load_state_dict(take_prefix(EMA_PREFIX, tensors) or take_prefix(MODEL_PREFIX, tensors))


def load_training_state(
        tensors: Mapping[str, torch.Tensor],
        model: nn.Module,
        ema: Optional[nn.Module],
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        device: torch.device,
) -> None:
    """Restore what `training_state_tensors` packed into objects built by the same recipe, on the same device
    type, and into torch's generators."""
    load_weights(tensors, model, ema)
    load_optimizer_tensors(optimizer, take_prefix(OPTIMIZER_PREFIX, tensors))
    rng = take_prefix(RNG_PREFIX, tensors)
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)
    generator.set_state(rng["data"])
