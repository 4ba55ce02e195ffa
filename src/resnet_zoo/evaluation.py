"""Evaluation of a classifier on a test split: top-1, top-5, mean cross-entropy and throughput.

`evaluate` serves ``resnet-zoo validate`` and the per-epoch evaluation of a training run alike, so that the two
agree to the last image; in a distributed run the metrics are those of every process's shard together.
`evaluate_weights` is ``resnet-zoo validate`` from Python: a model's weights on a dataset's test split.
"""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .datasets import DEFAULT_DATASET, Loader, check_data_folder, create_dataset, create_loader, get_dataset
from .distributed import all_reduce_sum
from .errors import check_options
from .factory import load_model, resolve_device
from .imagefolder import DEFAULT_WORKERS, check_workers
from .precision import inference_model, is_channels_last

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


def evaluate_weights(
        model: str,
        data: Union[str, Path],
        *,
        dataset: str = DEFAULT_DATASET,
        pretrained: bool = False,
        checkpoint: Optional[Union[str, Path]] = None,
        precision: str = "auto",
        device: Optional[torch.device] = None,
        batch_size: int = EVAL_BATCH_SIZE,
        subset: Optional[int] = None,
        workers: int = DEFAULT_WORKERS,
        download: bool = False,
) -> EvalMetrics:
    """The metrics of model ``model`` with the given weights on the test split of ``dataset`` under ``data``.

    Args:
        model: A resnet_zoo model name, e.g. ``"cifar_resnet56"``.
        data: The data folder (see `resnet_zoo.datasets.create_dataset`).
        dataset: One of `resnet_zoo.datasets.DATASETS`.
        pretrained: Evaluate the registered pretrained weights.
        checkpoint: Or those of a Hub model folder, a safetensors weights file or a training checkpoint (see
            `resnet_zoo.factory.load_model`).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see `resnet_zoo.precision.inference_model`).
        device: Where to evaluate (``None``: CUDA if available, else the CPU).
        batch_size: Images per batch.
        subset: Only the first ``subset`` test images (``None``: all).
        workers: Image decoding processes, for an image folder.
        download: Fetch a CIFAR dataset with torchvision if it is missing.

    Raises:
        DataError: If the data is missing or invalid.
        WeightsError: If the weights are missing or do not fit ``model``.
        ZooError: If ``model`` is not a resnet_zoo model, its classes do not match ``dataset``, or ``batch_size``,
            ``subset`` or ``workers`` is out of range.
    """
    check_options([(batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}"),
                   (subset is None or subset >= 1, f"--subset must be at least 1, got {subset}")])
    check_workers(workers)
    device = resolve_device() if device is None else device
    if not download:
        check_data_folder(data)  # before the weights, which may come over the network
    # the classes of a dataset that does not fix them (an image folder: listed, not decoded) shape the model, so it
    # is listed first; the others are read after the weights, so that weights that do not fit fail first
    listed = create_dataset(dataset, data, "test", subset) if get_dataset(dataset).num_classes is None else None
    network = load_model(model, dataset, pretrained, checkpoint, listed.classes if listed is not None else None)
    test = listed if listed is not None else create_dataset(dataset, data, "test", subset, download=download)
    network, dtype = inference_model(network, precision, device)
    loader = create_loader(dataset, test, batch_size, network.pretrained_cfg, device, workers=workers,
                           channels_last=is_channels_last(network))
    return evaluate(network, loader, dtype)
