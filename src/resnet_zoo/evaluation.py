"""Evaluation of a classifier on a test split: top-1, top-5, mean cross-entropy and throughput.

`evaluate` serves ``resnet-zoo validate`` and the per-epoch evaluation of a training run alike, so that the two
agree to the last image; in a distributed run the metrics are those of every process's shard together.
"""
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .datasets import Loader
from .distributed import all_reduce_sum

EVAL_BATCH_SIZE = 1000
"""Images per evaluation batch, in ``validate`` and in training's per-epoch evaluation alike."""


@dataclass(frozen=True)
class EvalMetrics:
    """Result of `evaluate`.

    Attributes:
        top1: Top-1 accuracy in percent.
        top5: Top-5 accuracy in percent.
        loss: Mean cross-entropy (no label smoothing).
        images: Number of images evaluated.
        img_per_s: Throughput of the evaluation, images per second.
    """

    top1: float
    top5: float
    loss: float
    images: int
    img_per_s: float


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Loader, dtype: Optional[torch.dtype] = None) -> EvalMetrics:
    """Top-1, top-5 and mean cross-entropy of ``model`` over every batch of ``loader``.

    The model is put in eval mode for the pass and then back in the mode it was in. In a distributed run each
    process evaluates its shard and the metrics are those of all shards together.

    Args:
        model: Classifier on the loader's device.
        loader: Evaluation batches (``train=False``).
        dtype: Autocast dtype, or ``None`` to run in the model's own precision.

    Returns:
        The metrics.
    """
    device = loader.device
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(2, dtype=torch.int64, device=device)
    start = time.perf_counter()
    for images, labels in loader:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(images).float()
        loss += F.cross_entropy(logits, labels, reduction="sum")
        correct = logits.topk(min(5, logits.shape[1]), dim=1).indices == labels[:, None]
        hits += torch.stack([correct[:, 0].sum(), correct.any(dim=1).sum()])
    count = torch.tensor(float(loader.num_images), dtype=torch.float64, device=device)
    totals = all_reduce_sum(torch.stack([loss, *hits.double(), count]))
    loss_sum, top1, top5, n = totals.tolist()  # waits for the device
    elapsed = time.perf_counter() - start
    model.train(was_training)
    return EvalMetrics(top1=100. * top1 / n, top5=100. * top5 / n, loss=loss_sum / n, images=int(n),
                       img_per_s=n / elapsed)
