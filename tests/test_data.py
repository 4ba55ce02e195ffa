"""The dataset table, CIFAR reading (real files, str and bytes keys, CIFAR-100, every kind of bad folder) and
device batches, alone and split across processes."""
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import timm
import torch
import torchvision

from resnet_zoo.augment import crop_flip, cutout_
from resnet_zoo.constants import DATASET_NAMES, default_tag
from resnet_zoo.cifar import (
    CIFAR10, CROP_PADDING, CifarSplit, DeviceLoader, download_cifar, load_cifar, missing_files, read_batch,
)
from resnet_zoo.cifar_constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from resnet_zoo.datasets import DATASETS, create_dataset, create_loader, get_dataset
from resnet_zoo.distributed import Ranks
from resnet_zoo.errors import DataError, ZooError
from resnet_zoo.imagefolder import IMAGE_FOLDER
from resnet_zoo.pretrained import cifar_cfg

from fake_cifar import fake_images, write_cifar, write_pickle


def expected_images(seeds, per_file: int) -> torch.Tensor:
    data = np.concatenate([fake_images(per_file, s) for s in seeds])
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy())


# ---------------------------------------------------------------------------------------------------------------
# the table


def test_the_table_holds_every_dataset_and_names_them_when_asked_for_another():
    assert list(DATASETS) == list(DATASET_NAMES) == ["cifar10", "cifar100", "imagefolder"]  # the CLI's choices
    assert [get_dataset(name).title for name in DATASETS] == ["CIFAR-10", "CIFAR-100", "image folder"]
    with pytest.raises(DataError, match="unknown dataset 'mnist'; valid: cifar10, cifar100, imagefolder"):
        get_dataset("mnist")


def test_the_recipe_tag_of_cifar10_is_the_registered_one():
    assert [default_tag(name) for name in DATASETS] == ["rz_cifar10", "rz_cifar100", "rz_imagefolder"]
    assert "cifar_resnet20.rz_cifar10" in timm.list_pretrained("cifar_resnet20*")  # what a CIFAR-10 run exports


def test_each_entry_answers_for_its_dataset():
    cuda = torch.device("cuda")
    assert CIFAR10.supports_cutout and not IMAGE_FOLDER.supports_cutout
    assert CIFAR10.generator_device(cuda) == cuda and IMAGE_FOLDER.generator_device(cuda) == torch.device("cpu")
    assert get_dataset("cifar100").model_overlay() == dict(num_classes=100, mean=(0.5071, 0.4865, 0.4409),
                                                            std=(0.2673, 0.2564, 0.2762))
    assert CIFAR10.model_overlay(["a"] * 10)["label_names"] == ("a",) * 10
    assert IMAGE_FOLDER.model_overlay(["cat", "dog"]) == dict(num_classes=2, label_names=("cat", "dog"))
    with pytest.raises(ValueError, match="needs the class names"):
        IMAGE_FOLDER.model_overlay()


def test_an_image_folder_is_not_downloaded(tmp_path):
    with pytest.raises(DataError, match="^--download fetches CIFAR only; an image folder must be on disk$"):
        create_dataset("imagefolder", tmp_path, "train", download=True)


def test_create_loader_makes_the_loader_of_the_dataset(tmp_path):
    split = create_dataset("cifar10", write_cifar(tmp_path), "test")  # 6 images
    loader = create_loader("cifar10", split, 4, cifar_cfg(), torch.device("cpu"), channels_last=True)
    assert isinstance(loader, DeviceLoader) and len(loader) == 2
    assert next(iter(loader))[0].is_contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------------------------------------------------------
# reading


def test_real_cifar10_test_split(cifar10_root):
    test = load_cifar(cifar10_root, "cifar10", "test")
    assert test.images.shape == (10000, 32, 32, 3) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the official test order
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.classes == CIFAR10_CLASSES


def test_real_cifar10_train_statistics_are_the_published_ones_the_models_normalise_with(cifar10_root):
    """The published per-channel mean/std hold only if channels and pixels are laid out as in the files; the CIFAR
    models' cfg and the dataset entry normalise with them, and name the classes as ``batches.meta`` does."""
    train = load_cifar(cifar10_root, "cifar10", "train")
    assert len(train) == 50000
    cfg = cifar_cfg()
    assert train.classes == cfg["label_names"]  # batches.meta's names, in its order
    for means, stds in ((cfg["mean"], cfg["std"]), (CIFAR10.mean, CIFAR10.std)):
        for channel, (mean, std) in enumerate(zip(means, stds)):
            counts = torch.bincount(train.images[..., channel].flatten(), minlength=256).double()
            values = torch.arange(256, dtype=torch.float64) / 255
            m = (counts * values).sum() / counts.sum()
            assert m.item() == pytest.approx(mean, abs=5e-5)
            assert ((counts * (values - m) ** 2).sum() / counts.sum()).sqrt().item() == pytest.approx(std, abs=5e-5)


@pytest.mark.parametrize("bytes_keys", [False, True], ids=["str-keys", "bytes-keys"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_fake_cifar10_reads_every_batch_in_order(tmp_path, bytes_keys, protocol):
    root = write_cifar(tmp_path, per_file=6, bytes_keys=bytes_keys, protocol=protocol)
    train = load_cifar(root, "cifar10", "train")
    test = load_cifar(root, "cifar10", "test")
    assert torch.equal(train.images, expected_images(range(5), 6))
    assert train.labels.tolist() == [(i + j) % 10 for i in range(5) for j in range(6)]
    assert torch.equal(test.images, expected_images([5], 6))
    assert train.classes == test.classes == tuple(f"class{c}" for c in range(10))


def test_cifar100_uses_fine_labels_and_names(tmp_path):
    """The official cifar-100-python files, which hold coarse labels and names beside the fine ones."""
    root = write_cifar(tmp_path, "cifar100", per_file=4)
    train, test = load_cifar(root, "cifar100", "train"), load_cifar(root, "cifar100", "test")
    assert torch.equal(train.images, expected_images([0], 4)) and torch.equal(test.images, expected_images([1], 4))
    assert train.labels.tolist() == [0, 1, 2, 3] and test.labels.tolist() == [1, 2, 3, 4]  # coarse: 1-4, 2-5
    assert len(train.classes) == 100 and train.classes[99] == "class99"


def test_limit_reads_only_the_files_it_needs(tmp_path):
    root = write_cifar(tmp_path, per_file=6)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"corrupt")
    first = load_cifar(root, "cifar10", "train", limit=8)
    assert torch.equal(first.images, expected_images(range(2), 6)[:8])
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar(root, "cifar10", "train", limit=13)


def test_limit_beyond_the_split_is_an_error(tmp_path):
    root = write_cifar(tmp_path, per_file=6)
    with pytest.raises(DataError, match="first 7 images of the CIFAR-10 test split .6 images"):
        load_cifar(root, "cifar10", "test", limit=7)


# ---------------------------------------------------------------------------------------------------------------
# bad folders and files


def test_missing_folder_names_the_files(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py/data_batch_1.*--download"):
        load_cifar(tmp_path, "cifar10", "train")
    with pytest.raises(DataError, match=r"is missing \S*cifar-10-batches-py/test_batch, \S*/batches\.meta \(pass "
                                        r"--download"):
        load_cifar(tmp_path, "cifar10", "test")


def test_the_test_split_needs_only_its_batch_and_the_meta_file(tmp_path):
    root = write_cifar(tmp_path)
    for name in CIFAR10.train_files:
        os.remove(root / "cifar-10-batches-py" / name)
    assert len(load_cifar(root, "cifar10", "test")) == 6
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar(root, "cifar10", "train")


@pytest.mark.parametrize("limit", [0, -3])
def test_a_limit_below_1_says_so(tmp_path, limit):
    with pytest.raises(DataError, match=rf"^cannot take the first {limit} images of the CIFAR-10 test split: give at "
                                        r"least 1$"):
        load_cifar(write_cifar(tmp_path), "cifar10", "test", limit=limit)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_a_data_root_that_is_no_folder_is_one_line(tmp_path, dataset):
    with pytest.raises(DataError, match=f"^{tmp_path / 'nowhere'}: folder does not exist$"):
        create_dataset(dataset, tmp_path / "nowhere", "test")
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=f"^{tmp_path / 'file'}: not a folder$"):
        create_dataset(dataset, tmp_path / "file", "test")


def test_partial_folder_names_exactly_the_missing_files(tmp_path):
    root = write_cifar(tmp_path)
    os.remove(root / "cifar-10-batches-py" / "data_batch_4")
    os.remove(root / "cifar-10-batches-py" / "batches.meta")
    assert [p.name for p in missing_files(root, "cifar10")] == ["data_batch_4", "batches.meta"]
    assert [p.name for p in missing_files(root, "cifar10", "test")] == ["batches.meta"]
    with pytest.raises(DataError) as info:
        load_cifar(root, "cifar10", "train")
    message = str(info.value)
    assert "data_batch_4" in message and "batches.meta" in message
    assert "data_batch_3" not in message and "test_batch" not in message
    with pytest.raises(DataError) as info:
        load_cifar(root, "cifar10", "test")
    assert "batches.meta" in str(info.value) and "data_batch" not in str(info.value)


def test_truncated_batch_is_named(tmp_path):
    root = write_cifar(tmp_path)
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=f"{path} is not a readable CIFAR file"):
        load_cifar(root, "cifar10", "test")


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    root = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    path = root / "cifar-10-batches-py" / "test_batch"
    write_pickle(path, {"data": RunsCode(marker), "labels": []})
    with pytest.raises(DataError, match=r"test_batch .*forbidden global (posix|nt)\.system"):
        load_cifar(root, "cifar10", "test")
    assert not marker.exists()


def test_codecs_other_than_latin1_are_refused(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DataError, match="forbidden codec 'rot13'"):
        read_batch(path)


@pytest.mark.parametrize("content, message", [
    ([1, 2, 3], "holds a list, not a dict"),
    ({"labels": [0]}, "no 'data' entry"),
    ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, r"'data' must be a uint8 array \(N, 3072\)"),
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "float32"),
    ({"data": fake_images(2, 0), "labels": [0]}, r"2 images but 'labels' has shape \[1\]"),
    ({"data": fake_images(2, 0), "labels": [0, 10]}, r"labels must lie in \[0, 10\), found 0..10"),
    ({"data": fake_images(2, 0), "labels": ["a", "b"]}, "'labels' must be integers"),
])
def test_malformed_batch_is_named(tmp_path, content, message):
    root = write_cifar(tmp_path)
    path = root / "cifar-10-batches-py" / "test_batch"
    write_pickle(path, content)
    with pytest.raises(DataError, match=message) as info:
        load_cifar(root, "cifar10", "test")
    assert str(path) in str(info.value)


def test_meta_file_must_name_every_class(tmp_path):
    root = write_cifar(tmp_path)
    write_pickle(root / "cifar-10-batches-py" / "batches.meta", {"label_names": ["cat"]})
    with pytest.raises(DataError, match="batches.meta: 'label_names' must list 10 class names"):
        load_cifar(root, "cifar10", "test")


def test_download_leaves_a_complete_folder_alone(tmp_path):
    root = write_cifar(tmp_path)
    before = {p.name: p.read_bytes() for p in (root / "cifar-10-batches-py").iterdir()}
    download_cifar(root, "cifar10")  # would need the network (absent in tests) if it fetched anything
    assert {p.name: p.read_bytes() for p in (root / "cifar-10-batches-py").iterdir()} == before


def fake_download(monkeypatch, fetch):
    """Make torchvision's ``download_and_extract_archive`` call ``fetch(download_root)`` instead."""
    monkeypatch.setattr("resnet_zoo.cifar.download_and_extract_archive",
                        lambda url, download_root, **kwargs: fetch(Path(download_root)))


def test_download_without_network_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def fetch(folder):
        write_cifar(folder)  # half of the files were already there when the connection broke
        os.remove(folder / "cifar-10-batches-py" / "test_batch")
        raise URLError(OSError("[Errno -3] Temporary failure in name resolution"))

    fake_download(monkeypatch, fetch)
    with pytest.raises(DataError) as info:
        download_cifar(tmp_path / "data", "cifar10")
    assert str(info.value) == (f"cannot download CIFAR-10 from {torchvision.datasets.CIFAR10.url} into "
                               f"{tmp_path / 'data'}: [Errno -3] Temporary failure in name resolution")
    assert list(tmp_path.iterdir()) == []  # not even the folder it made for the download
    with pytest.raises(DataError):
        download_cifar(tmp_path / "a" / "b" / "data", "cifar10")
    assert list(tmp_path.iterdir()) == []  # nor the parents it made
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError):
        download_cifar(tmp_path / "data", "cifar10")
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]  # a folder that was there stays


def test_download_completes_a_partial_folder(tmp_path, monkeypatch):
    root = write_cifar(tmp_path)
    os.remove(root / "cifar-10-batches-py" / "data_batch_2")
    fake_download(monkeypatch, write_cifar)
    download_cifar(root, "cifar10")
    assert missing_files(root, "cifar10") == () and [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]
    assert len(load_cifar(root, "cifar10", "train")) == 5 * 6


def test_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'mnist'; valid: cifar10, cifar100"):
        load_cifar(tmp_path, "mnist")


# ---------------------------------------------------------------------------------------------------------------
# augmentations and device batches


def numbered_split(n: int) -> CifarSplit:
    """Random images whose label is their index, so a batch shows which image each sample came from."""
    images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    return CifarSplit(images, torch.arange(n), tuple(str(i) for i in range(n)))


def find_crop(crop: torch.Tensor, image: torch.Tensor) -> set:
    """``(top, left, flipped)`` of every window of the zero-padded ``image`` equal to ``crop``."""
    p = CROP_PADDING
    padded = torch.zeros(32 + 2 * p, 32 + 2 * p, 3, dtype=image.dtype)
    padded[p:p + 32, p:p + 32] = image
    return {(top, left, flipped) for top in range(2 * p + 1) for left in range(2 * p + 1) for flipped in (0, 1)
            if torch.equal(padded[top:top + 32, left:left + 32].flip(1) if flipped else
                           padded[top:top + 32, left:left + 32], crop)}


def test_crop_flip_takes_windows_of_the_padded_image():
    split = numbered_split(64)
    p = CROP_PADDING
    padded = torch.nn.functional.pad(split.images, (0, 0, p, p, p, p))
    index = torch.arange(63, -1, -1)
    generator = torch.Generator().manual_seed(0)
    offsets = torch.randint(0, 2 * p + 1, (64, 2), generator=generator)
    flip = torch.rand(64, generator=generator) < 0.5
    crops = crop_flip(padded, index, 32, offsets, flip)
    assert crops.shape == (64, 32, 32, 3) and crops.dtype == torch.uint8
    found = [find_crop(crops[i], split.images[index[i]]) for i in range(64)]
    assert found == [{(*offsets[i].tolist(), int(flip[i]))} for i in range(64)]  # random images: one window each


def test_cutout_zeroes_one_clipped_square_per_image():
    images = (torch.randn(200, 3, 32, 32).abs() + 1).contiguous(memory_format=torch.channels_last)
    centres = torch.randint(0, 32, (200, 2), generator=torch.Generator().manual_seed(0))
    out = cutout_(images.clone(), 8, centres)
    assert out.is_contiguous(memory_format=torch.channels_last)
    zero = out == 0
    assert torch.equal(zero.all(1), zero.any(1))  # all channels or none
    for mask, (row, col) in zip(zero[:, 0], centres.tolist()):
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert rows.tolist() == list(range(max(row - 4, 0), min(row + 4, 32)))
        assert cols.tolist() == list(range(max(col - 4, 0), min(col + 4, 32)))
        assert mask.sum() == len(rows) * len(cols)  # a full rectangle
    assert torch.equal(out[~zero], images[~zero])


def test_eval_batches_are_every_image_in_order_normalised():
    split = numbered_split(10)
    loader = DeviceLoader(split, 4, CIFAR10_MEAN, CIFAR10_STD)
    batches = list(loader)
    assert len(loader) == 3 and [len(labels) for _, labels in batches] == [4, 4, 2]
    images = torch.cat([x for x, _ in batches])
    expected = (split.images.permute(0, 3, 1, 2).double() / 255 - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    assert images.dtype == torch.float32 and images.is_contiguous()
    torch.testing.assert_close(images.double(), expected, atol=1e-5, rtol=0)
    assert torch.cat([y for _, y in batches]).tolist() == list(range(10))


def test_train_batches_are_augmented_crops_of_their_labelled_images():
    split = numbered_split(40)
    loader = DeviceLoader(split, 16, (0., 0., 0.), (1 / 255,) * 3, train=True,
                          generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(loader) == len(batches) == 2  # the last partial batch is dropped
    labels = torch.cat([y for _, y in batches])
    assert len(set(labels.tolist())) == 32  # drawn without replacement
    assert labels.tolist() != sorted(labels.tolist())  # shuffled
    for images, ys in batches:
        for image, y in zip(images, ys):
            assert find_crop(image.permute(1, 2, 0).round().to(torch.uint8), split.images[y])


def test_train_batches_follow_the_generator():
    split = numbered_split(64)

    def batches(seed: int, channels_last: bool = False):
        loader = DeviceLoader(split, 16, CIFAR10_MEAN, CIFAR10_STD, train=True, cutout=8,
                              generator=torch.Generator().manual_seed(seed), channels_last=channels_last)
        return list(loader)

    same, other, last = batches(1), batches(2), batches(1, channels_last=True)
    assert all(torch.equal(a, b) and torch.equal(ya, yb) for (a, ya), (b, yb) in zip(batches(1), same))
    assert not torch.equal(same[0][0], other[0][0])
    assert all(x.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, y)
               for (x, _), (y, _) in zip(last, same))


def test_training_loader_needs_a_generator():
    with pytest.raises(ValueError, match="needs a generator"):
        DeviceLoader(numbered_split(4), 2, CIFAR10_MEAN, CIFAR10_STD, train=True)


@pytest.mark.parametrize("cutout", [0, 8])
def test_processes_split_each_training_batch_in_order(cutout):
    """What N processes train on in a step is the single process's batch, whatever N (see distributed.py)."""
    split = numbered_split(70)

    def batches(ranks: Ranks):
        loader = DeviceLoader(split, 16, CIFAR10_MEAN, CIFAR10_STD, train=True, cutout=cutout,
                              generator=torch.Generator().manual_seed(5), ranks=ranks)
        assert len(loader) == 4
        return [batch for _ in range(2) for batch in loader]  # two epochs

    alone = batches(Ranks())
    for world_size in (2, 4):
        parts = [batches(Ranks(rank, world_size)) for rank in range(world_size)]
        for step, (images, labels) in enumerate(alone):
            assert all(len(part[step][1]) == 16 // world_size for part in parts)
            assert torch.equal(torch.cat([part[step][0] for part in parts]), images)
            assert torch.equal(torch.cat([part[step][1] for part in parts]), labels)


def test_processes_evaluate_disjoint_shards_that_cover_the_split():
    split = numbered_split(10)
    loaders = [DeviceLoader(split, 2, CIFAR10_MEAN, CIFAR10_STD, ranks=Ranks(rank, 3)) for rank in range(3)]
    assert [loader.num_images for loader in loaders] == [3, 3, 4]
    labels = [torch.cat([y for _, y in loader]).tolist() for loader in loaders]
    assert labels == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


def test_a_global_batch_must_split_evenly():
    with pytest.raises(ZooError, match="--batch-size 16 .the global batch. must be a multiple of the 3 processes"):
        DeviceLoader(numbered_split(32), 16, CIFAR10_MEAN, CIFAR10_STD, train=True,
                     generator=torch.Generator(), ranks=Ranks(0, 3))
