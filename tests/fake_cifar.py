"""Small fake copies of the official CIFAR "python version" folders, for tests that need no real data."""
import pickle
from pathlib import Path

import numpy as np


def fake_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def write_pickle(path: Path, content, protocol: int = 2) -> None:
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)


OFFICIAL = {
    "cifar10": dict(folder="cifar-10-batches-py", files=[f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"],
                    meta="batches.meta", classes=10, labels="labels", names="label_names"),
    "cifar100": dict(folder="cifar-100-python", files=["train", "test"], meta="meta", classes=100,
                     labels="fine_labels", names="fine_label_names", coarse=20),
}
"""The official "python version" layouts, as https://www.cs.toronto.edu/~kriz/cifar.html describes them, typed out
here rather than taken from `resnet_zoo.cifar` so that the reader is checked against them."""


def write_cifar(root: Path, dataset: str = "cifar10", per_file: int = 6, bytes_keys: bool = False,
                protocol: int = 2) -> Path:
    """A small copy of the official layout of ``dataset``: ``per_file`` images in each batch file; CIFAR-100's
    files also hold its coarse labels and names (20 superclasses), which differ from the fine ones."""
    layout = OFFICIAL[dataset]
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    folder = root / layout["folder"]
    folder.mkdir(parents=True)
    for i, name in enumerate(layout["files"]):
        batch = {key("batch_label"): f"batch {i}", key("data"): fake_images(per_file, i),
                 key(layout["labels"]): [(i + j) % layout["classes"] for j in range(per_file)]}
        if "coarse" in layout:
            batch[key("coarse_labels")] = [(i + j + 1) % layout["coarse"] for j in range(per_file)]
        write_pickle(folder / name, batch, protocol)
    meta = {key(layout["names"]): _names("class", layout["classes"], bytes_keys)}
    if "coarse" in layout:
        meta[key("coarse_label_names")] = _names("superclass", layout["coarse"], bytes_keys)
    write_pickle(folder / layout["meta"], meta, protocol)
    return root


def _names(prefix: str, count: int, as_bytes: bool) -> list:
    return [f"{prefix}{c}".encode() if as_bytes else f"{prefix}{c}" for c in range(count)]
