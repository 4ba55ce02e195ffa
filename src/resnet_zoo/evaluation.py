"""Evaluation of a classifier on a test split: top-1, top-5, mean cross-entropy and throughput.

`evaluate` serves ``resnet-zoo validate`` and the per-epoch evaluation of a training run alike, so that the two
agree to the last image; in a distributed run the metrics are those of every process's shard together.
`evaluate_weights` is ``resnet-zoo validate`` from Python: a model's weights on a dataset's test split.
"""
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .constants import DEFAULT_DATASET, DEFAULT_WORKERS, EVAL_BATCH_SIZE, TTA
from .datasets import Loader, check_data_folder, create_dataset, create_loader, get_dataset
from .devices import resolve_device
from .distributed import all_reduce_sum
from .errors import check_options
from .factory import load_model
from .imagefolder import check_workers
from .precision import inference_model, is_channels_last



@dataclass(frozen=True)
class EvalMetrics:
    """Result of `evaluate`.

    Attributes:
        top1: Top-1 accuracy in percent.
        top5: Top-5 accuracy in percent.
        loss: Mean cross-entropy (no label smoothing).
        images: Number of images evaluated.
        img_per_s: Throughput of the evaluation, images per second.
        flip: The metrics of flip test-time augmentation (the mean of the logits of each image and of its mirror),
            when they were computed in the same pass; ``None`` otherwise.
    """

    top1: float
    top5: float
    loss: float
    images: int
    img_per_s: float
    flip: Optional["EvalMetrics"] = None




def _tta_check(tta: Optional[str]) -> Tuple[bool, str]:
    return tta is None or tta in TTA, f"--tta must be one of {', '.join(TTA)}, got {tta!r}"


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Loader, dtype: Optional[torch.dtype] = None,
             tta: Optional[str] = None) -> EvalMetrics:
    """Top-1, top-5 and mean cross-entropy of ``model`` over every batch of ``loader``.

    The model is put in eval mode for the pass and then back in the mode it was in. In a distributed run each
    process evaluates its shard and the metrics are those of all shards together.

    Args:
        model: Classifier on the loader's device.
        loader: Evaluation batches (``train=False``).
        dtype: Autocast dtype, or ``None`` to run in the model's own precision.
        tta: ``"flip"`` computes, in the same pass, the metrics of the mean logits of each image and of its
            horizontal mirror too (`EvalMetrics.flip`); ``None``: the plain metrics only.

    Returns:
        The metrics.
    """
    check_options([_tta_check(tta)])
    device = loader.device
    was_training = model.training
    model.eval()
    sums = torch.zeros(2 if tta else 1, 3, dtype=torch.float64, device=device)  # loss, top-1 and top-5 hits
    start = time.perf_counter()
    for images, labels in loader:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(images).float()
            views = [logits, (logits + model(images.flip(-1)).float()) / 2] if tta else [logits]
        for row, view in zip(sums, views):
            correct = view.topk(min(5, view.shape[1]), dim=1).indices == labels[:, None]
            row += torch.stack([F.cross_entropy(view, labels, reduction="sum"), correct[:, 0].sum().double(),
                                correct.any(dim=1).sum().double()])
    count = torch.tensor([float(loader.num_images)], dtype=torch.float64, device=device)
    totals = all_reduce_sum(torch.cat([sums.flatten(), count])).tolist()  # waits for the device
    n, elapsed = totals[-1], time.perf_counter() - start
    model.train(was_training)
    plain, *flipped = [EvalMetrics(top1=100. * top1 / n, top5=100. * top5 / n, loss=loss / n, images=int(n),
                                   img_per_s=n / elapsed) for loss, top1, top5 in zip(*[iter(totals[:-1])] * 3)]
    return replace(plain, flip=flipped[0]) if flipped else plain


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
        tta: Optional[str] = None,
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
        tta: ``"flip"`` adds the metrics of flip test-time augmentation (`evaluate`).

    Raises:
        DataError: If the data is missing or invalid.
        WeightsError: If the weights are missing or do not fit ``model``.
        ZooError: If ``model`` is not a resnet_zoo model, its classes do not match ``dataset``, or ``batch_size``,
            ``subset`` or ``workers`` is out of range.
    """
    check_options([(batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}"),
                   (subset is None or subset >= 1, f"--subset must be at least 1, got {subset}"),
                   _tta_check(tta)])
    check_workers(workers)
    device = resolve_device() if device is None else device
    if not download:
        check_data_folder(data)  # before the weights, which may come over the network
    # the classes of a dataset that does not fix them (an image folder: listed, not decoded) shape the model, so it
    # is listed first; the others are read after the weights, so that weights that do not fit fail first
    listed = create_dataset(dataset, data, "test", subset, download=download) \
        if get_dataset(dataset).num_classes is None else None
    network = load_model(model, dataset, pretrained, checkpoint, listed.classes if listed is not None else None)
    test = listed if listed is not None else create_dataset(dataset, data, "test", subset, download=download)
    network, dtype = inference_model(network, precision, device)
    loader = create_loader(dataset, test, batch_size, network.pretrained_cfg, device, workers=workers,
                           channels_last=is_channels_last(network))
    return evaluate(network, loader, dtype, tta)
