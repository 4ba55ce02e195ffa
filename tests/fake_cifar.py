"""Small fake copies of the official CIFAR "python version" folders, for tests that need no real data."""
import pickle
from pathlib import Path

import numpy as np

from resnet_zoo.cifar import CIFAR_SPECS


def fake_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def write_pickle(path: Path, content, protocol: int = 2) -> None:
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)


def write_cifar(root: Path, dataset: str = "cifar10", per_file: int = 6, bytes_keys: bool = False,
                protocol: int = 2) -> Path:
    """A small copy of the official layout of ``dataset``: ``per_file`` images in each batch file."""
    spec = CIFAR_SPECS[dataset]
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    folder = root / spec.folder
    folder.mkdir(parents=True)
    for i, name in enumerate(spec.train_files + spec.test_files):
        labels = [(i + j) % spec.num_classes for j in range(per_file)]
        write_pickle(folder / name, {key("batch_label"): f"batch {i}", key("data"): fake_images(per_file, i),
                                     key(spec.label_key): labels}, protocol)
    names = [f"class{c}".encode() if bytes_keys else f"class{c}" for c in range(spec.num_classes)]
    write_pickle(folder / spec.meta_file, {key(spec.names_key): names}, protocol)
    return root
