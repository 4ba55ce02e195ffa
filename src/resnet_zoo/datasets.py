"""The datasets that ``train`` and ``validate`` read: one table, and the one place that creates datasets and loaders.

`DATASETS` holds an entry per ``--dataset``: ``cifar10`` and ``cifar100`` (the official python version, held on
the device: `resnet_zoo.cifar`) and ``imagefolder`` (a ``train/`` + ``val/`` tree of class folders, decoded by
DataLoader workers: `resnet_zoo.imagefolder`). Callers ask the entry (`get_dataset`) what differs between them,
its title, classes, loader, generator device and model overlay, and create splits and loaders through
`create_dataset` and `create_loader`, as timm's ``timm.data`` does. Each dataset's evaluation split is its
``test`` split (``val/`` for an image folder).
"""
from pathlib import Path
from typing import Any, Dict, Optional, Protocol, Sequence, Union

import torch

from .cifar import CIFAR_SPECS, CifarSplit, DeviceLoader
from .distributed import Ranks
from .errors import DataError
from .imagefolder import IMAGE_FOLDER, FolderLoader, FolderSplit

Split = Union[CifarSplit, FolderSplit]
"""One split of a dataset, as `create_dataset` returns it."""

Loader = Union[DeviceLoader, FolderLoader]
"""The batches of a split, as `create_loader` returns them."""


class DatasetSpec(Protocol):
    """What ``train`` and ``validate`` ask of a ``--dataset``; `resnet_zoo.cifar.CifarSpec` and
    `resnet_zoo.imagefolder.ImageFolderSpec` answer it.

    Attributes:
        name: Its ``--dataset``.
        title: Human-readable name.
        num_classes: Number of classes, or ``None`` where the data says (one per class folder).
        supports_cutout: Whether cutout applies to its training batches.
    """

    name: str
    title: str
    num_classes: Optional[int]
    supports_cutout: bool

    def download(self, root: Union[str, Path]) -> None:
        """Fetch the dataset into ``root`` if it is missing.

        Raises:
            DataError: If the download fails, or the dataset cannot be downloaded.
        """

    def load(self, root: Union[str, Path], split: str, limit: Optional[int] = None) -> Split:
        """Read or list ``split`` (``"train"`` or ``"test"``) under ``root``, its first ``limit`` images only."""

    def create_loader(self, split: Split, batch_size: int, cfg: Dict[str, Any], device: torch.device,
                      **options: Any) -> Loader:
        """The batches of ``split``; ``options`` are the keyword arguments of `create_loader`."""

    def generator_device(self, device: torch.device) -> torch.device:
        """Where the generator of the training order lives when training on ``device``."""

    def model_overlay(self, classes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """``pretrained_cfg`` entries of a model for the dataset with ``classes``: the number of classes, the class
        names when given and the normalisation where the dataset has its own."""


DATASETS: Dict[str, DatasetSpec] = {spec.name: spec for spec in (*CIFAR_SPECS.values(), IMAGE_FOLDER)}
"""Every ``--dataset`` (`resnet_zoo.constants.DATASET_NAMES`), by name."""


def get_dataset(name: str) -> DatasetSpec:
    """The entry of ``name`` in `DATASETS`.

    Raises:
        DataError: If there is none.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def check_data_folder(root: Union[str, Path]) -> Path:
    """``root`` as a `Path`, once it is known to be a folder.

    Raises:
        DataError: If ``root`` does not exist or is not a folder (one line naming it).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: {'not a folder' if root.exists() else 'folder does not exist'}")
    return root


def create_dataset(name: str, root: Union[str, Path], split: str, limit: Optional[int] = None,
                   download: bool = False) -> Split:
    """The ``split`` (``"train"`` or ``"test"``) of dataset ``name`` under the data folder ``root``: CIFAR read
    into memory, an image folder listed.

    Args:
        name: One of `DATASETS`.
        root: The data folder.
        split: ``"train"`` or ``"test"``.
        limit: Keep only the first ``limit`` images.
        download: Fetch the dataset first if it is missing (CIFAR only).

    Raises:
        DataError: If the data is missing or invalid (the message names what), or ``download`` is asked for an
            image folder.
    """
    dataset = get_dataset(name)
    if download:
        dataset.download(root)
    return dataset.load(check_data_folder(root), split, limit)


def create_loader(
        name: str,
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
    """The loader of ``split`` of dataset ``name``: batches on ``device``, normalised as ``cfg`` (a model's
    pretrained_cfg) says.

    ``cutout`` applies to CIFAR, ``workers`` to image folders; see `resnet_zoo.cifar.DeviceLoader` and
    `resnet_zoo.imagefolder.FolderLoader` for the other arguments.

    Raises:
        DataError: If ``name`` is not one of `DATASETS`.
    """
    return get_dataset(name).create_loader(split, batch_size, cfg, device, train=train, cutout=cutout,
                                           generator=generator, ranks=ranks, workers=workers,
                                           channels_last=channels_last)


def class_difference(ours: Sequence[str], theirs: Sequence[str], whose: str) -> Optional[str]:
    """How the class names ``ours`` differ from ``whose`` ``theirs``: their numbers, or the first name that differs
    (``"class 1 is 'dingo', the run's 'dog'"``); ``None`` if they are the same."""
    ours, theirs = list(ours), list(theirs)
    if len(ours) != len(theirs):
        return f"{len(ours)} classes against {whose} {len(theirs)}"
    index = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    return None if index is None else f"class {index} is {ours[index]!r}, {whose} {theirs[index]!r}"
