"""``resnet-zoo validate``: top-1, top-5, loss and throughput of a model on a test split.

    resnet-zoo validate --model cifar_resnet56 --pretrained --data DIR [--json]
    resnet-zoo validate --model cifar_resnet56 --checkpoint runs/x/cifar_resnet56.rz_cifar10 --data DIR
    resnet-zoo validate --model cifar_resnet56 --checkpoint model.safetensors --data DIR
    resnet-zoo validate --model zoo_resnet50 --checkpoint DIR --dataset imagefolder --data IMAGES

The test split is CIFAR's ``test`` batch, or the ``val/`` folder of an image folder tree (see
`resnet_zoo.datasets`).

``--checkpoint`` takes a Hub model folder (``config.json`` + weights, loaded through timm's ``local-dir:``), a
safetensors weights file, or a training checkpoint of ``resnet-zoo train`` (its EMA weights when it has them,
the ones its log measured). Inputs are normalised with the model's ``pretrained_cfg`` mean and std. By default
(``--precision auto``) the model runs in its fast form: BatchNorm folded, channels_last, and bf16 autocast where
the device computes bf16 natively; ``--precision fp32`` runs it exactly as loaded (see `resnet_zoo.precision`).
"""
import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import eval_weights, is_checkpoint, load_checkpoint
from .data import check_data_folder
from .datasets import DATASET_NAMES, IMAGEFOLDER, Loader, dataset_title, load_split, make_loader, model_overlay
from .distributed import all_reduce_sum
from .imagefolder import DEFAULT_WORKERS
from .errors import WeightsError, ZooError
from .precision import add_precision_argument, inference_model
from .weights import is_zoo_model

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


def resolve_device(name: Optional[str] = None) -> torch.device:
    """The device called ``name``, or CUDA when it is available and ``name`` is ``None``, else the CPU.

    Raises:
        ZooError: If ``name`` is not a device, or names CUDA where there is none.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ZooError(f"invalid --device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"--device {name} asked for CUDA, but torch sees no CUDA device")
    return device


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


def check_model_name(name: str) -> None:
    """Raise `ZooError` (listing the zoo's CIFAR models) unless ``name`` is a model registered by resnet_zoo."""
    if not is_zoo_model(name):
        raise ZooError(f"{name!r} is not a resnet-zoo model; the CIFAR ones: "
                       f"{', '.join(timm.list_models('cifar_resnet*'))}")


def create_model_for(
        name: str,
        dataset: Optional[str],
        classes: Optional[Sequence[str]] = None,
        file: Optional[Union[str, Path]] = None,
) -> nn.Module:
    """``timm.create_model(name)`` for ``dataset``: its classes (and for CIFAR its mean/std) in ``pretrained_cfg``.

    Args:
        name: A resnet_zoo model name, e.g. ``"cifar_resnet56"``.
        dataset: One of `resnet_zoo.datasets.DATASET_NAMES`, or ``None`` to keep the model's registered cfg.
        classes: Class names for ``pretrained_cfg["label_names"]`` (``None`` keeps the registered ones); required
            for an image folder.
        file: Weights to load through timm (a safetensors state dict), or ``None`` for a new model.

    Raises:
        ZooError: If ``name`` is not a resnet_zoo model.
    """
    check_model_name(name)
    overlay = model_overlay(dataset, classes) if dataset is not None else {}
    if file is not None:
        overlay["file"] = str(file)
    return timm.create_model(name, pretrained=file is not None, num_classes=overlay.get("num_classes"),
                             pretrained_cfg_overlay=overlay)


def load_hub_folder(name: str, folder: Path) -> nn.Module:
    """The model of a Hub model folder (``config.json`` + weights), loaded through timm's ``local-dir:``.

    Raises:
        WeightsError: If ``folder`` has no ``config.json`` or holds another architecture than ``name``.
    """
    if not (folder / "config.json").is_file():
        raise WeightsError(f"{folder} is not a Hub model folder: it has no config.json")
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    architecture = model.pretrained_cfg.get("architecture")
    if architecture != name:
        raise WeightsError(f"{folder} holds a {architecture}, not a {name}")
    return model


def load_model(name: str, dataset: Optional[str], pretrained: bool = False,
               checkpoint: Optional[Union[str, Path]] = None,
               classes: Optional[Sequence[str]] = None) -> nn.Module:
    """``name`` with the weights to evaluate: the registered pretrained ones or those of ``checkpoint``.

    ``validate`` and ``predict`` load their ``--pretrained`` / ``--checkpoint`` through this one function.

    Args:
        name: A resnet_zoo model name.
        dataset: Dataset the model is evaluated on; its number of classes must match the weights'. ``None``
            (``predict``) keeps the classes of the weights: a Hub folder's own, else the registered ones.
        pretrained: Load the registered pretrained weights (from the Hugging Face Hub or its cache).
        checkpoint: A Hub model folder, a safetensors weights file or a training checkpoint (its EMA weights
            when it has them).
        classes: The dataset's class names; required for an image folder.

    Returns:
        The model on the CPU, in eval mode.

    Raises:
        WeightsError: If the weights are missing, not a safetensors file or Hub folder, or do not fit ``name``.
        ZooError: If ``name`` is not a resnet_zoo model, or the model's classes do not match ``dataset``.
    """
    if pretrained == (checkpoint is not None):
        raise ZooError("give exactly one of --pretrained and --checkpoint")
    check_model_name(name)
    if checkpoint is not None and not Path(checkpoint).exists():
        raise WeightsError(f"{checkpoint}: no such file or folder")
    source = "pretrained weights" if pretrained else str(checkpoint)
    try:
        if pretrained:
            model = timm.create_model(name, pretrained=True)
        elif Path(checkpoint).is_dir():
            model = load_hub_folder(name, Path(checkpoint))
        elif is_checkpoint(checkpoint):
            model = create_model_for(name, dataset, classes)
            model.load_state_dict(eval_weights(load_checkpoint(checkpoint)[0]))
        else:
            model = create_model_for(name, dataset, classes, file=checkpoint)
    except (RuntimeError, OSError) as e:
        raise WeightsError(f"cannot load {source} into {name}: {e}") from e
    num_classes = model_overlay(dataset, classes)["num_classes"] if dataset is not None else model.num_classes
    if model.num_classes != num_classes:
        raise ZooError(f"{name} with {source} has {model.num_classes} classes, {dataset_title(dataset)} has "
                       f"{num_classes}")
    return model.eval()


def validate(args: argparse.Namespace) -> EvalMetrics:
    """Evaluate the model that ``args`` (the options of ``resnet-zoo validate``) describe on its test split."""
    device = resolve_device(args.device)
    if not args.download:
        check_data_folder(args.data)  # before the weights, which may come over the network
    # an image folder's classes (listed, not decoded) shape the model; CIFAR's are known, so weights that do not
    # fit fail before the data is read
    folder = load_split(args.data, args.dataset, "test", args.subset) if args.dataset == IMAGEFOLDER else None
    model = load_model(args.model, args.dataset, args.pretrained, args.checkpoint,
                       folder.classes if folder is not None else None)
    test = folder or load_split(args.data, args.dataset, "test", args.subset, download=args.download)
    model, dtype = inference_model(model, args.precision, device)
    loader = make_loader(test, args.batch_size, model.pretrained_cfg, device, workers=args.workers,
                         channels_last=args.precision != "fp32")
    return evaluate(model, loader, dtype)


def validate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo validate`` to ``parser``."""
    parser.add_argument("--model", required=True, help="model name, e.g. cifar_resnet56")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--pretrained", action="store_true", help="the model's pretrained weights (from $RESNET_ZOO_WEIGHTS, the HF cache or the Hub)")
    weights.add_argument("--checkpoint", type=Path, metavar="PATH",
                         help="a Hub model folder, a safetensors weights file or a training checkpoint")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="folder holding cifar-10-batches-py/, cifar-100-python/ or (imagefolder) val/")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default="cifar10")
    parser.add_argument("--download", action="store_true", help="fetch a CIFAR dataset with torchvision if missing")
    parser.add_argument("--batch-size", type=int, default=EVAL_BATCH_SIZE, metavar="N")
    parser.add_argument("--subset", type=int, metavar="N", help="only the first N test images")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                        help=f"image decoding processes, for imagefolder (default: {DEFAULT_WORKERS})")
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: cuda if available)")
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def validate_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo validate``; prints the metrics and returns 0."""
    metrics = validate(args)
    report: Dict[str, Any] = dict(model=args.model, dataset=args.dataset, **asdict(metrics))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.model} on {dataset_title(args.dataset)} test ({metrics.images} images): "
              f"top-1 {metrics.top1:.2f}%  top-5 {metrics.top5:.2f}%  loss {metrics.loss:.4f}  "
              f"{metrics.img_per_s:,.0f} img/s")
    return 0
