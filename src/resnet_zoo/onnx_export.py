"""ONNX export of a model for ONNX Runtime: BatchNorm folded (`resnet_zoo.fuse.fuse_bn`), float32, a dynamic batch
dimension, written atomically and checked with ONNX Runtime against the PyTorch model before it takes its place.

It needs the ``onnx`` extra (``pip install "resnet-zoo[onnx]"``: onnx, onnxscript for torch's exporter, and
onnxruntime for the check).
"""
import importlib.util
import os
from pathlib import Path
from typing import Union

import torch
import torch.nn as nn

from .checkpoint import write_atomic
from .errors import ZooError
from .files import created_folders
from .fuse import fuse_bn

INPUT_NAME, OUTPUT_NAME = "images", "logits"
"""The names of the exported graph's input (``N x C x H x W`` float32, normalised) and output."""
CHECK_BATCH = 3
"""Images of the random batch the export is checked on (not 1: the batch dimension must stay dynamic)."""
TOLERANCE = 1e-4
"""Largest difference of a logit between ONNX Runtime and PyTorch that the check accepts."""
EXTRA = ("onnx", "onnxscript", "onnxruntime")
"""The packages of the ``onnx`` extra."""


def export_onnx(model: nn.Module, path: Union[str, os.PathLike]) -> Path:
    """Write ``model`` (in eval mode, BatchNorm folded, float32) as an ONNX graph with a dynamic batch.

    The graph is written next to ``path`` and replaces it only after ONNX Runtime has computed the logits of a
    random batch within `TOLERANCE` of the PyTorch model's; a failed export leaves nothing.

    Args:
        model: A model made by ``timm.create_model`` (its ``pretrained_cfg`` gives the input size).
        path: The ``.onnx`` file to write (its missing folders are made, and removed again if the export fails).

    Returns:
        ``path``.

    Raises:
        ZooError: If the ``onnx`` extra is not installed, or ONNX Runtime disagrees with PyTorch.
    """
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ZooError(f"ONNX export needs {', '.join(missing)}: pip install \"resnet-zoo[onnx]\"")
    import onnxruntime  # an optional dependency, checked above

    path = Path(path)
    fused = fuse_bn(model.eval()).float()
    batch = torch.randn(CHECK_BATCH, *model.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(0))

    def write(tmp: Path) -> None:
        torch.onnx.export(fused, (batch,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True, external_data=False,
                          verbose=False)
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch.numpy()})
        with torch.inference_mode():
            error = (torch.from_numpy(logits) - fused(batch)).abs().max().item()
        if not error <= TOLERANCE:
            raise ZooError(f"ONNX Runtime's logits differ from PyTorch's by {error:.2e} (tolerance {TOLERANCE})")

    with created_folders(path.parent):  # a folder made here goes again if the export fails
        write_atomic(path, write)
    return path
