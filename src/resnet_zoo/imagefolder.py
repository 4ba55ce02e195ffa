"""ImageNet-style data for ``zoo_resnet*``: a torchvision ``ImageFolder`` tree, decoded by DataLoader workers.

The data root holds ``train/`` and ``val/``, each with one sub-folder of images per class (the layout of
ImageNet after the usual preparation). `IMAGE_FOLDER` is its entry in `resnet_zoo.datasets.DATASETS`.
`load_image_folder` lists a split; `FolderLoader` decodes and augments it in DataLoader worker processes and
normalises the batches on the training device:

* training: random resized crop to the model's input size (scale 0.08-1, aspect ratio 3/4-4/3), horizontal
  flip;
* evaluation: resize the short side to ``input size / crop_pct`` (256 for 224 at the zoo's 0.875), centre crop.

As for CIFAR, the order and a seed for every image's augmentation are drawn once per epoch from one generator,
for the global batches of all processes; the augmentation of an image depends on its seed only, so batches
are the same whatever the number of processes or workers.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision import transforms as T
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader

from .augment import Normalize
from .distributed import Ranks, batches_per_pass, check_batching, rank_slice, shard
from .errors import DataError, ZooError


SPLIT_FOLDERS = {"train": "train", "test": "val"}
"""Folder of each split under the data root; ``val/`` is the split that is evaluated."""


def check_workers(workers: int) -> None:
    """Raise `ZooError` unless ``workers`` (``--workers``, of ``train`` and ``validate``) is 0 or more."""
    if workers < 0:
        raise ZooError(f"--workers must be 0 or more (0: decode in the main process), got {workers}")


def image_error(path: Union[str, Path], error: OSError) -> str:
    """``cannot read image PATH: REASON`` for an image that Pillow could not open (missing, unreadable, not an
    image), the reason without the file object that Pillow's own message names."""
    if isinstance(error, UnidentifiedImageError):
        reason = "cannot identify image file (not an image format Pillow reads)"
    else:
        reason = error.strerror or str(error)
    return f"cannot read image {path}: {reason}"


@dataclass(frozen=True)
class FolderSplit:
    """One split of an image folder tree: its files, not yet decoded.

    Attributes:
        samples: ``(path, class index)`` of every image, sorted by class then file name.
        classes: Class names (the sub-folder names, sorted), indexed by class index.
    """

    samples: List[Tuple[str, int]]
    classes: Tuple[str, ...]

    def __len__(self) -> int:
        return len(self.samples)


def load_image_folder(root: Union[str, Path], split: str = "train", limit: Optional[int] = None) -> FolderSplit:
    """List one split of the image folder tree under ``root``.

    Args:
        root: Folder holding ``train/`` and ``val/``, each with one sub-folder per class.
        split: ``"train"`` or ``"test"`` (the ``val/`` folder).
        limit: Keep only the first ``limit`` images.

    Raises:
        DataError: If the split's folder is missing, it holds no class folder, or a class folder holds no image,
            or the split holds fewer than ``limit`` images.
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {sorted(SPLIT_FOLDERS)}, got {split!r}")
    folder = Path(root) / SPLIT_FOLDERS[split]
    if not folder.is_dir():
        raise DataError(f"{folder} is missing: an image folder dataset holds train/ and val/, each with one "
                        f"sub-folder of images per class")
    try:
        dataset = ImageFolder(str(folder))
    except FileNotFoundError as e:  # no class folder, or a class folder without images
        raise DataError(f"{folder}: {e}") from None
    if limit is not None and not 0 < limit <= len(dataset):
        raise DataError(f"cannot take the first {limit} images of {folder} ({len(dataset)} images)")
    return FolderSplit(samples=dataset.samples[:limit], classes=tuple(dataset.classes))


def train_transform(cfg: Dict[str, Any]) -> Callable:
    """Random resized crop to ``cfg["input_size"]`` and horizontal flip, from a PIL image to HWC uint8."""
    size = cfg["input_size"][-1]
    interpolation = T.InterpolationMode(cfg.get("interpolation", "bilinear"))
    return T.Compose([T.RandomResizedCrop(size, interpolation=interpolation), T.RandomHorizontalFlip(),
                      _to_hwc_tensor])


def eval_transform(cfg: Dict[str, Any]) -> Callable:
    """Resize to ``input size / crop_pct`` and centre crop to ``cfg["input_size"]``, from PIL to HWC uint8."""
    size = cfg["input_size"][-1]
    interpolation = T.InterpolationMode(cfg.get("interpolation", "bilinear"))
    return T.Compose([T.Resize(math.floor(size / cfg.get("crop_pct", 1.)), interpolation=interpolation),
                      T.CenterCrop(size), _to_hwc_tensor])


def _to_hwc_tensor(image: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))


class _Unreadable(NamedTuple):
    """What a DataLoader worker returns for an image it cannot read, so that the main process raises the
    `DataError` itself (an exception raised in a worker reaches it wrapped in torch's traceback text)."""

    message: str


def _collate(items: List[Any]) -> Any:
    """torch's batch of ``items``, or the first `_Unreadable` among them."""
    return next((item for item in items if isinstance(item, _Unreadable)), None) or default_collate(items)


class _SeededImages(Dataset):
    """Decodes and transforms ``samples[index]`` for an item ``(index, seed)``; a seed makes the transform's
    randomness (torch's RNG) a function of it alone, leaving the caller's RNG state untouched. An image that
    cannot be read is an `_Unreadable`."""

    def __init__(self, samples: Sequence[Tuple[str, int]], transform: Callable):
        self.samples = samples
        self.transform = transform
        self.load = default_loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: Tuple[int, Optional[int]]) -> Union[Tuple[torch.Tensor, int], _Unreadable]:
        index, seed = item
        path, label = self.samples[index]
        try:
            image = self.load(path)
        except OSError as e:  # unreadable, or not an image Pillow knows
            return _Unreadable(image_error(path, e))
        if seed is None:
            return self.transform(image), label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image), label


class _Batches:
    """Batch sampler of `FolderLoader`: per epoch, this process's ``(index, seed)`` items of each batch."""

    def __init__(self, num_images: int, batch_size: int, ranks: Ranks, generator: Optional[torch.Generator]):
        self.num_images = num_images
        self.batch_size = batch_size
        self.ranks = ranks
        self.generator = generator

    def __len__(self) -> int:
        return batches_per_pass(self.num_images, self.batch_size, train=self.generator is not None)

    def __iter__(self) -> Iterator[List[Tuple[int, Optional[int]]]]:
        if self.generator is None:
            for i in range(0, self.num_images, self.batch_size):
                yield [(j, None) for j in range(i, min(i + self.batch_size, self.num_images))]
            return
        order = torch.randperm(self.num_images, generator=self.generator)
        seeds = torch.randint(0, 2 ** 62, (self.num_images,), generator=self.generator)
        for i in range(len(self)):
            part = rank_slice(i, self.batch_size, self.ranks)
            yield list(zip(order[part].tolist(), seeds[part].tolist()))


class FolderLoader:
    """Batches of an image folder split, decoded by DataLoader workers and normalised on ``device``.

    Training batches are drawn in a random order and augmented with `train_transform`; the last partial
    batch is dropped. Evaluation batches are this process's `resnet_zoo.distributed.shard` of the images, in
    order, transformed by `eval_transform`.

    Args:
        split: The images.
        batch_size: Images per batch: for training the global batch of all processes, for evaluation this
            process's batch.
        cfg: The model's ``pretrained_cfg``: input size, crop fraction, interpolation, mean and std.
        device: Where the batches go (from pinned memory when it is CUDA).
        train: Shuffle, augment and drop the last partial batch.
        generator: CPU generator, source of the order and the augmentation seeds, in the same state in every
            process. Required for training.
        channels_last: Yield batches in ``torch.channels_last`` memory format.
        ranks: This process's place in the run.
        workers: DataLoader worker processes (0: decode in this process).

    Raises:
        ValueError: For training without a generator, or a non-positive batch size.
        ZooError: If a training batch does not split evenly across the processes.
    """

    def __init__(
            self,
            split: FolderSplit,
            batch_size: int,
            cfg: Dict[str, Any],
            device: Union[str, torch.device] = "cpu",
            train: bool = False,
            generator: Optional[torch.Generator] = None,
            channels_last: bool = False,
            ranks: Ranks = Ranks(),
            workers: int = 0,
    ):
        check_batching("FolderLoader", batch_size, train, generator, ranks)
        samples = split.samples if train else split.samples[shard(len(split), ranks)]
        self.batch_size = batch_size
        self.num_images = len(samples)
        self.device = torch.device(device)
        self.normalize = Normalize(cfg["mean"], cfg["std"], self.device, channels_last)
        images = _SeededImages(samples, train_transform(cfg) if train else eval_transform(cfg))
        self.loader = DataLoader(
            images, batch_sampler=_Batches(len(samples), batch_size, ranks, generator if train else None),
            num_workers=workers, pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
            collate_fn=_collate,
            generator=torch.Generator())  # the loader's own seeds: the transforms are seeded per image

    def __len__(self) -> int:
        """Batches per pass (global batches, for training)."""
        return len(self.loader)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)``: float32 ``(B, 3, H, W)`` and int64 ``(B,)``, on the device.

        Raises:
            DataError: Naming the first image of a batch that cannot be read.
        """
        for batch in self.loader:
            if isinstance(batch, _Unreadable):
                raise DataError(batch.message)
            images, labels = batch
            images = images.to(self.device, non_blocking=True)
            yield self.normalize(images), labels.to(self.device, non_blocking=True)


class ImageFolderSpec:
    """The image folder tree as an entry of `resnet_zoo.datasets.DATASETS`: what ``train`` and ``validate`` ask of
    ``--dataset imagefolder``.

    Attributes:
        name: Its ``--dataset``.
        title: Human-readable name.
        num_classes: ``None``: one class per class folder.
        supports_cutout: Cutout does not apply (it is a CIFAR augmentation).
    """

    name: ClassVar[str] = "imagefolder"
    title: ClassVar[str] = "image folder"
    num_classes: ClassVar[Optional[int]] = None
    supports_cutout: ClassVar[bool] = False

    def download(self, root: Union[str, Path]) -> None:
        """Refuse: an image folder is not fetched.

        Raises:
            DataError: Always.
        """
        raise DataError("--download fetches CIFAR only; an image folder must be on disk")

    def load(self, root: Union[str, Path], split: str, limit: Optional[int] = None) -> FolderSplit:
        """List ``split`` under ``root`` (`load_image_folder`)."""
        return load_image_folder(root, split, limit)

    def create_loader(self, split: FolderSplit, batch_size: int, cfg: Dict[str, Any], device: torch.device,
                      cutout: int = 0, **options: Any) -> FolderLoader:
        """A `FolderLoader` of ``split``, transformed and normalised as ``cfg`` says; ``options`` are its keyword
        arguments (``cutout`` does not apply)."""
        return FolderLoader(split, batch_size, cfg, device, **options)

    def generator_device(self, device: torch.device) -> torch.device:
        """The CPU, where the DataLoader draws the training order and augmentation seeds."""
        return torch.device("cpu")

    def model_overlay(self, classes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """``pretrained_cfg`` entries of a model for the tree's ``classes``: their number and names (the mean and
        std stay the model's registered ones, ImageNet's).

        Raises:
            ValueError: If ``classes`` is ``None``.
        """
        if classes is None:
            raise ValueError("an image folder model needs the class names")
        return dict(num_classes=len(classes), label_names=tuple(classes))


IMAGE_FOLDER = ImageFolderSpec()
"""The image folder tree's entry in `resnet_zoo.datasets.DATASETS`."""
