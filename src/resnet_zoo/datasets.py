"""The datasets that ``train`` and ``validate`` read, behind one interface.

``--dataset`` is ``cifar10`` or ``cifar100`` (the official python version, held on the device: see
`resnet_zoo.data`) or ``imagefolder`` (a ``train/`` + ``val/`` tree of class folders, decoded by DataLoader
workers: see `resnet_zoo.imagefolder`). Each dataset's evaluation split is its ``test`` split (``val/`` for an
image folder).
"""
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch

from .data import DATASETS, CifarSplit, DeviceLoader, download_cifar, get_spec, load_cifar
from .distributed import Ranks
from .errors import DataError
from .imagefolder import FolderLoader, FolderSplit, load_image_folder

IMAGEFOLDER = "imagefolder"
"""``--dataset`` of an image folder tree."""

DATASET_NAMES = (*DATASETS, IMAGEFOLDER)
"""Every ``--dataset``."""

Split = Union[CifarSplit, FolderSplit]
Loader = Union[DeviceLoader, FolderLoader]


def check_dataset(dataset: str) -> None:
    """Raise `DataError` unless ``dataset`` is one of `DATASET_NAMES`."""
    if dataset not in DATASET_NAMES:
        raise DataError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_NAMES)}")


def dataset_title(dataset: str) -> str:
    """Human-readable name of ``dataset``."""
    return "image folder" if dataset == IMAGEFOLDER else get_spec(dataset).title


def default_tag(dataset: str) -> str:
    """Pretrained tag of weights trained on ``dataset`` (``rz_imagefolder`` for an image folder)."""
    return f"rz_{IMAGEFOLDER}" if dataset == IMAGEFOLDER else get_spec(dataset).tag


def load_split(root: Union[str, Path], dataset: str, split: str, limit: Optional[int] = None,
               download: bool = False) -> Split:
    """Read (CIFAR) or list (image folder) the ``split`` (``"train"`` or ``"test"``) of ``dataset`` under ``root``.

    Args:
        root: The data folder.
        dataset: One of `DATASET_NAMES`.
        split: ``"train"`` or ``"test"``.
        limit: Keep only the first ``limit`` images.
        download: Fetch a CIFAR dataset with torchvision if it is missing.

    Raises:
        DataError: If the data is missing or invalid (the message names what), or ``download`` is asked for an
            image folder.
    """
    check_dataset(dataset)
    if dataset == IMAGEFOLDER:
        if download:
            raise DataError("--download fetches CIFAR only; an image folder must be on disk")
        return load_image_folder(root, split, limit)
    if download:
        download_cifar(root, dataset)
    return load_cifar(root, dataset, split, limit)


def make_loader(
        split: Split,
        batch_size: int,
        cfg: Dict[str, Any],
        device: torch.device,
        train: bool = False,
        cutout: int = 0,
        generator: Optional[torch.Generator] = None,
        ranks: Ranks = Ranks(),
        workers: int = 0,
        channels_last: bool = False,
) -> Loader:
    """The loader of ``split``: batches on ``device``, normalised as ``cfg`` (a model's pretrained_cfg) says.

    ``cutout`` applies to CIFAR, ``workers`` to image folders; see `resnet_zoo.data.DeviceLoader` and
    `resnet_zoo.imagefolder.FolderLoader` for the other arguments.
    """
    if isinstance(split, FolderSplit):
        return FolderLoader(split, batch_size, cfg, device, train=train, generator=generator,
                            channels_last=channels_last, ranks=ranks, workers=workers)
    return DeviceLoader(split, batch_size, cfg["mean"], cfg["std"], device, train=train, cutout=cutout,
                        generator=generator, channels_last=channels_last, ranks=ranks)


def generator_device(dataset: str, device: torch.device) -> torch.device:
    """Where the generator of ``dataset``'s training order lives: the training device for CIFAR (the whole
    dataset is there), the CPU for an image folder (its DataLoader draws the order)."""
    return torch.device("cpu") if dataset == IMAGEFOLDER else device


def model_overlay(dataset: str, classes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """``pretrained_cfg`` entries of a model for ``dataset``: number of classes, class names and, for CIFAR,
    the dataset's mean and std (an image folder keeps the model's registered ones, ImageNet's).

    Args:
        dataset: One of `DATASET_NAMES`.
        classes: The dataset's class names; required for an image folder.
    """
    check_dataset(dataset)
    if dataset == IMAGEFOLDER:
        if classes is None:
            raise ValueError("an image folder model needs the class names")
        overlay: Dict[str, Any] = dict(num_classes=len(classes))
    else:
        spec = get_spec(dataset)
        overlay = dict(num_classes=spec.num_classes, mean=spec.mean, std=spec.std)
    if classes is not None:
        overlay["label_names"] = tuple(classes)
    return overlay
