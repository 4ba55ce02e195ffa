"""CIFAR-10 and CIFAR-100: their entries in the dataset table, their official "python version" folders, and
batches that live on the device.

* `CIFAR10` and `CIFAR100` are the datasets' entries in `resnet_zoo.datasets.DATASETS`: layout, statistics (from
  `resnet_zoo.cifar_constants`, which the models' pretrained cfgs share) and how each split is read and batched.
* `load_cifar` reads ``cifar-10-batches-py/`` or ``cifar-100-python/`` (the layout that
  ``torchvision.datasets.CIFAR10/100(download=True)`` leaves on disk). The batches are pickles, read by
  `read_batch` through an unpickler that resolves only the numpy globals the format needs, so a crafted file
  cannot run code. Keys may be ``str`` or ``bytes`` (Python 2 pickles read either way).
* `download_cifar` fetches and unpacks the official archive with torchvision (checksum-verified).
* `DeviceLoader` holds a whole split as uint8 on the training device and augments it there (random crop with
  zero padding, horizontal flip, optional cutout), so the accelerator never waits on the CPU; under
  ``torchrun`` each process takes its part of every batch.
"""
import codecs
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.datasets
from torchvision.datasets.utils import download_and_extract_archive

from .augment import Normalize, crop_flip, cutout_
from .cifar_constants import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, IMAGE_SIZE
from .distributed import Ranks, batches_per_pass, check_batching, rank_slice, shard
from .errors import DataError
from .files import created_folders

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray, numeric as _numeric


CROP_PADDING = 4
"""Zero padding on each side before the random 32x32 crop."""


@dataclass(frozen=True)
class CifarSpec:
    """One CIFAR dataset: its layout and statistics, and its entry in `resnet_zoo.datasets.DATASETS`.

    Attributes:
        name: ``"cifar10"`` or ``"cifar100"``.
        title: Human-readable name.
        folder: Folder of the official python version, under the data root.
        train_files: Batch files of the train split.
        test_files: Batch files of the test split.
        meta_file: File holding the class names.
        label_key: Key of the labels in a batch.
        names_key: Key of the class names in the meta file.
        num_classes: Number of classes.
        mean: Per-channel mean of the train images, in [0, 1] units.
        std: Per-channel standard deviation of the train images, in [0, 1] units.
        torchvision_class: Name of the ``torchvision.datasets`` class whose archive holds the folder.
        supports_cutout: Cutout applies to its training batches.
    """

    name: str
    title: str
    folder: str
    train_files: Tuple[str, ...]
    test_files: Tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    torchvision_class: str
    supports_cutout: ClassVar[bool] = True

    def files(self, split: str) -> Tuple[str, ...]:
        """Batch files of ``split`` (``"train"`` or ``"test"``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self.train_files if split == "train" else self.test_files

    def download(self, root: Union[str, Path]) -> None:
        """Fetch the dataset into ``root`` unless it is all there (`download_cifar`)."""
        download_cifar(root, self.name)

    def load(self, root: Union[str, Path], split: str, limit: Optional[int] = None) -> "CifarSplit":
        """Read ``split`` from ``root`` (`load_cifar`)."""
        return load_cifar(root, self.name, split, limit)

    def create_loader(self, split: "CifarSplit", batch_size: int, cfg: Dict[str, Any], device: torch.device,
                      workers: int = 0, **options: Any) -> "DeviceLoader":
        """A `DeviceLoader` of ``split``, normalised with ``cfg``'s mean and std; ``options`` are its keyword
        arguments (``workers`` does not apply: the split is on the device)."""
        return DeviceLoader(split, batch_size, cfg["mean"], cfg["std"], device, **options)

    def generator_device(self, device: torch.device) -> torch.device:
        """``device``: the whole split is there, and the training order and augmentations are drawn there."""
        return device

    def model_overlay(self, classes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """``pretrained_cfg`` entries of a model for this dataset: its number of classes, mean and std, and the
        class names ``classes`` when given."""
        overlay: Dict[str, Any] = dict(num_classes=self.num_classes, mean=self.mean, std=self.std)
        if classes is not None:
            overlay["label_names"] = tuple(classes)
        return overlay


CIFAR10 = CifarSpec(
    name="cifar10", title="CIFAR-10", folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
    meta_file="batches.meta", label_key="labels", names_key="label_names", num_classes=10,
    mean=CIFAR10_MEAN, std=CIFAR10_STD, torchvision_class="CIFAR10")
"""CIFAR-10."""

CIFAR100 = CifarSpec(
    name="cifar100", title="CIFAR-100", folder="cifar-100-python",
    train_files=("train",), test_files=("test",),
    meta_file="meta", label_key="fine_labels", names_key="fine_label_names", num_classes=100,
    mean=CIFAR100_MEAN, std=CIFAR100_STD, torchvision_class="CIFAR100")
"""CIFAR-100, with its 100 fine labels."""

CIFAR_SPECS: Dict[str, CifarSpec] = {spec.name: spec for spec in (CIFAR10, CIFAR100)}
"""The CIFAR datasets by name."""


def get_spec(dataset: str) -> CifarSpec:
    """The `CifarSpec` of ``dataset``.

    Raises:
        DataError: If ``dataset`` is not one of `CIFAR_SPECS`.
    """
    if dataset not in CIFAR_SPECS:
        raise DataError(f"unknown dataset {dataset!r}; valid: {', '.join(CIFAR_SPECS)}")
    return CIFAR_SPECS[dataset]


# ---------------------------------------------------------------------------------------------------------------
# reading the official files


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as Python 3 pickles of bytes use it (protocol 2), for latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"forbidden codec {encoding!r} (only latin1 occurs in CIFAR batches)")
    return codecs.encode(text, "latin1")


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
"""The only globals a CIFAR batch refers to (numpy 1 and 2 names, Python 2 and 3 pickles)."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only `_ALLOWED_GLOBALS`; any other global is an error, never an import."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def read_batch(path: Union[str, Path]) -> Dict[str, Any]:
    """Read one pickled CIFAR file (a batch or the meta file) safely.

    Args:
        path: The file.

    Returns:
        Its dict, with ``str`` keys (``bytes`` keys are decoded).

    Raises:
        DataError: If the file is missing, is not a pickled dict, or refers to anything but numpy arrays.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            content = _CifarUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except Exception as e:  # a corrupt or crafted pickle can fail in many ways; all mean "not a CIFAR file"
        raise DataError(f"{path} is not a readable CIFAR file: {type(e).__name__}: {e}") from e
    if not isinstance(content, dict):
        raise DataError(f"{path} is not a CIFAR file: it holds a {type(content).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}


def missing_files(root: Union[str, Path], dataset: str = "cifar10", split: Optional[str] = None) -> Tuple[Path, ...]:
    """Files of ``dataset`` that are not under ``root``: of ``split`` and the meta file, or (``None``) of both
    splits and the meta file."""
    spec = get_spec(dataset)
    folder = Path(root) / spec.folder
    names = (spec.files(split) if split else spec.train_files + spec.test_files) + (spec.meta_file,)
    return tuple(folder / name for name in names if not (folder / name).is_file())


def _field(content: Dict[str, Any], key: str, path: Path) -> Any:
    if key not in content:
        raise DataError(f"{path} is not a CIFAR batch: no {key!r} entry (has {sorted(content)})")
    return content[key]


def _read_images(path: Path, spec: CifarSpec) -> Tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 of one batch file, checked."""
    content = read_batch(path)
    data = _field(content, "data", path)
    pixels = 3 * IMAGE_SIZE * IMAGE_SIZE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        shape = getattr(data, "shape", None)
        raise DataError(f"{path}: 'data' must be a uint8 array (N, {pixels}), got {type(data).__name__} "
                        f"{getattr(data, 'dtype', '')} {list(shape) if shape is not None else ''}".rstrip())
    try:
        labels = np.asarray(_field(content, spec.label_key, path), dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: {spec.label_key!r} must be integers ({e})") from e
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {spec.label_key!r} has shape {list(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(f"{path}: labels must lie in [0, {spec.num_classes}), found {labels.min()}..{labels.max()}")
    images = data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def _read_classes(path: Path, spec: CifarSpec) -> Tuple[str, ...]:
    names = _field(read_batch(path), spec.names_key, path)
    if not isinstance(names, (list, tuple)) or len(names) != spec.num_classes:
        raise DataError(f"{path}: {spec.names_key!r} must list {spec.num_classes} class names")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


@dataclass(frozen=True)
class CifarSplit:
    """One split of a CIFAR dataset, in memory.

    Attributes:
        images: ``(N, 32, 32, 3)`` uint8 pixels, channels last (as stored, per image row-major RGB).
        labels: ``(N,)`` int64 class indices.
        classes: Class names, indexed by label.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: Tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def load_cifar(
        root: Union[str, Path],
        dataset: str = "cifar10",
        split: str = "train",
        limit: Optional[int] = None,
) -> CifarSplit:
    """Read one split of CIFAR-10 or CIFAR-100 from the official python version under ``root``.

    Args:
        root: Folder holding ``cifar-10-batches-py/`` or ``cifar-100-python/``.
        dataset: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        limit: Keep only the first ``limit`` images (and read only the batch files that hold them).

    Returns:
        The split, in file order.

    Raises:
        DataError: If a file is missing (the message names each one) or is not a valid CIFAR file, or the split
            holds fewer than ``limit`` images.
    """
    spec = get_spec(dataset)
    missing = missing_files(root, dataset, split)
    if missing:
        raise DataError(f"{spec.title} under {root} is missing {', '.join(map(str, missing))} "
                        f"(pass --download to fetch it with torchvision)")
    if limit is not None and limit < 1:
        raise DataError(f"cannot take the first {limit} images of the {spec.title} {split} split: give at least 1")
    folder = Path(root) / spec.folder
    parts, count = [], 0
    for name in spec.files(split):
        if limit is not None and count >= limit:
            break
        parts.append(_read_images(folder / name, spec))
        count += len(parts[-1][1])
    if limit is not None and not 0 < limit <= count:
        raise DataError(f"cannot take the first {limit} images of the {spec.title} {split} split "
                        f"({count} images)")
    return CifarSplit(
        images=torch.cat([images for images, _ in parts])[:limit],
        labels=torch.cat([labels for _, labels in parts])[:limit],
        classes=_read_classes(folder / spec.meta_file, spec),
    )


def download_cifar(root: Union[str, Path], dataset: str = "cifar10") -> None:
    """Fetch and unpack ``dataset``'s official archive into ``root`` with torchvision, unless it is all there.

    The archive is fetched and unpacked in a hidden temporary folder under ``root`` (torchvision verifies its
    MD5), and only then are its files renamed into place, so a failed or interrupted download leaves nothing that
    could pass for the dataset. Nothing is unpickled here.

    Args:
        root: Folder to hold ``cifar-10-batches-py/`` or ``cifar-100-python/``.
        dataset: ``"cifar10"`` or ``"cifar100"``.

    Raises:
        DataError: If the download fails (no network, a bad checksum, a full disk): one line naming the URL and
            the cause.
    """
    if not missing_files(root, dataset):
        return
    spec = get_spec(dataset)
    source = getattr(torchvision.datasets, spec.torchvision_class)
    root = Path(root)
    try:
        with created_folders(root), tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
            download_and_extract_archive(source.url, tmp, filename=source.filename, md5=source.tgz_md5)
            (root / spec.folder).mkdir(exist_ok=True)
            for file in (Path(tmp) / spec.folder).iterdir():
                os.replace(file, root / spec.folder / file.name)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision's failed MD5 check a RuntimeError
        raise DataError(f"cannot download {spec.title} from {source.url} into {root}: "
                        f"{getattr(e, 'reason', e)}") from None


# ---------------------------------------------------------------------------------------------------------------
# batches on the device


class DeviceLoader:
    """Batches of one CIFAR split that stays on ``device``, normalised (and for training augmented) there.

    Training batches are drawn in a random order and augmented with a random 32x32 crop of the image
    zero-padded by `CROP_PADDING`, a horizontal flip with probability 1/2 and, if ``cutout`` > 0, a cutout
    square. The order and every image's augmentation are drawn once per epoch from ``generator``, for the
    global batches of all processes of the run; this process takes its part of each (see
    `resnet_zoo.distributed`). The last partial batch is dropped, so every step has the same shapes (as CUDA
    graphs need). Evaluation batches are this process's `resnet_zoo.distributed.shard` of the images, in
    order, unaugmented.

    Args:
        split: The images and labels.
        batch_size: Images per batch: for training the global batch of all processes, for evaluation this
            process's batch.
        mean: Per-channel mean used for normalisation, in [0, 1] units (from the model's pretrained_cfg).
        std: Per-channel standard deviation, in [0, 1] units.
        device: Where the images are kept and the batches are made.
        train: Shuffle, augment and drop the last partial batch.
        cutout: Side of the cutout square (0: none); training only.
        generator: Source of the order and the augmentations; its device must be ``device``, and its state
            the same in every process. Required for training.
        channels_last: Yield batches in ``torch.channels_last`` memory format.
        ranks: This process's place in the run.

    Raises:
        ValueError: For training without a generator, or a non-positive batch size.
        ZooError: If a training batch does not split evenly across the processes.
    """

    def __init__(
            self,
            split: CifarSplit,
            batch_size: int,
            mean: Tuple[float, ...],
            std: Tuple[float, ...],
            device: Union[str, torch.device] = "cpu",
            train: bool = False,
            cutout: int = 0,
            generator: Optional[torch.Generator] = None,
            channels_last: bool = False,
            ranks: Ranks = Ranks(),
    ):
        check_batching("DeviceLoader", batch_size, train, generator, ranks)
        self.batch_size = batch_size
        self.train = train
        self.cutout = cutout
        self.generator = generator
        self.ranks = ranks
        self.device = torch.device(device)
        part = slice(None) if train else shard(len(split), ranks)
        self.labels = split.labels[part].to(device)
        self.num_images = len(self.labels)
        images = split.images[part].to(device)
        if train:  # pad once: each step then only gathers its crops
            p = CROP_PADDING
            images = F.pad(images, (0, 0, p, p, p, p))
        self.images = images
        self.normalize = Normalize(mean, std, self.device, channels_last)

    def __len__(self) -> int:
        """Batches per pass (global batches, for training)."""
        return batches_per_pass(self.num_images, self.batch_size, self.train)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)``: float32 ``(B, 3, 32, 32)`` and int64 ``(B,)``, on the device."""
        if not self.train:
            for i in range(0, self.num_images, self.batch_size):
                yield self.normalize(self.images[i:i + self.batch_size]), self.labels[i:i + self.batch_size]
            return
        n, g, device = self.num_images, self.generator, self.device
        order = torch.randperm(n, device=device, generator=g)
        offsets = torch.randint(0, 2 * CROP_PADDING + 1, (n, 2), device=device, generator=g)
        flips = torch.rand(n, device=device, generator=g) < 0.5
        if self.cutout:
            centres = torch.randint(0, IMAGE_SIZE, (n, 2), device=device, generator=g)
        for i in range(len(self)):
            part = rank_slice(i, self.batch_size, self.ranks)
            index = order[part]
            images = self.normalize(crop_flip(self.images, index, IMAGE_SIZE, offsets[part], flips[part]))
            if self.cutout:
                images = cutout_(images, self.cutout, centres[part])
            yield images, self.labels[index]
