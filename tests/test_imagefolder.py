"""ImageNet-style data for zoo_resnet*: a tiny ImageFolder tree written here, its transforms, its batches (the same
whatever the number of processes or workers), its errors, and ``train`` + ``validate`` of zoo_resnet18 on it."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from resnet_zoo.commands.cli import main
from resnet_zoo.constants import CHECKPOINT_FILE
from resnet_zoo.datasets import create_dataset, create_loader
from resnet_zoo.distributed import Ranks
from resnet_zoo.errors import DataError
from resnet_zoo.imagefolder import FolderLoader, eval_transform, load_image_folder, train_transform
from resnet_zoo.precision import resolve_precision
from resnet_zoo.recipe import Recipe, default_lr
from resnet_zoo.run import RunOptions, train
from resnet_zoo.train_log import TRAIN_LOG_NAME

CLASSES = ("cat", "dog", "fox")
SIZES = [(64, 48), (40, 90), (300, 260), (57, 57)]


def write_tree(root: Path, per_class: int = 4, val_per_class: int = 2) -> Path:
    """``root/train/CLASS/i.png`` and ``root/val/CLASS/i.png``: random RGB images of assorted sizes."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for i in range(count):
                w, h = SIZES[i % len(SIZES)]
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def cfg() -> dict:
    return timm.create_model("zoo_resnet18").pretrained_cfg


def test_splits_list_the_class_folders(tree):
    train, val = load_image_folder(tree, "train"), load_image_folder(tree, "test")
    assert train.classes == val.classes == CLASSES
    assert len(train) == 12 and len(val) == 6
    assert [label for _, label in train.samples] == [0] * 4 + [1] * 4 + [2] * 4
    assert val.samples[0] == (str(tree / "val" / "cat" / "0.png"), 0)
    assert len(load_image_folder(tree, "train", limit=5)) == 5


def test_the_table_creates_its_splits_and_loaders(tree, cfg):
    split = create_dataset("imagefolder", tree, "test", limit=5)
    assert split.classes == CLASSES and len(split) == 5
    loader = create_loader("imagefolder", split, 4, cfg, torch.device("cpu"))
    assert isinstance(loader, FolderLoader) and len(loader) == 2


def test_missing_or_empty_folders_are_named(tree, tmp_path):
    missing = f"{tmp_path / 'val'} is missing: an image folder dataset holds train/ and val/"
    with pytest.raises(DataError, match=missing):
        load_image_folder(tmp_path, "test")
    (tmp_path / "train" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=f"{tmp_path / 'train'}: .*cat"):  # a class folder without images
        load_image_folder(tmp_path, "train")
    with pytest.raises(DataError, match="cannot take the first 13 images"):
        load_image_folder(tree, "train", limit=13)


def resize_256_crop_224(path: Path) -> torch.Tensor:
    """The standard ImageNet evaluation view, with PIL alone: short side to 256 (bilinear), centre 224 crop."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    image = image.resize(size, Image.BILINEAR)
    left, top = round((size[0] - 224) / 2), round((size[1] - 224) / 2)
    return torch.from_numpy(np.array(image.crop((left, top, left + 224, top + 224))))


@pytest.mark.parametrize("name", ["0.png", "1.png"])
def test_eval_transform_resizes_to_256_and_centre_crops_224(tree, cfg, name):
    image = Image.open(tree / "val" / "cat" / name).convert("RGB")
    assert torch.equal(eval_transform(cfg)(image), resize_256_crop_224(tree / "val" / "cat" / name))


def test_train_transform_crops_224_at_random(tree, cfg):
    image = Image.open(tree / "train" / "dog" / "2.png").convert("RGB")
    crops = [train_transform(cfg)(image) for _ in range(3)]
    assert all(c.shape == (224, 224, 3) and c.dtype == torch.uint8 for c in crops)
    assert not torch.equal(crops[0], crops[1])


def batches(tree, cfg, ranks=Ranks(), workers=0, train=True, seed=0):
    split = load_image_folder(tree, "train" if train else "test")
    loader = FolderLoader(split, 6 if train else 4, cfg, train=train, generator=torch.Generator().manual_seed(seed),
                          ranks=ranks, workers=workers)
    return [batch for _ in range(2) for batch in loader]  # two epochs


def test_training_batches_do_not_depend_on_processes_or_workers(tree, cfg):
    alone = batches(tree, cfg)
    assert len(alone) == 4 and all(x.shape == (6, 3, 224, 224) and x.dtype == torch.float32 for x, _ in alone)
    assert not torch.equal(alone[0][0], alone[2][0])  # each epoch draws anew
    assert all(torch.equal(a, b) and torch.equal(ya, yb)
               for (a, ya), (b, yb) in zip(alone, batches(tree, cfg, workers=2)))
    parts = [batches(tree, cfg, ranks=Ranks(rank, 2)) for rank in range(2)]
    for step, (images, labels) in enumerate(alone):
        assert torch.equal(torch.cat([part[step][0] for part in parts]), images)
        assert torch.equal(torch.cat([part[step][1] for part in parts]), labels)
    assert not torch.equal(batches(tree, cfg, seed=1)[0][0], alone[0][0])


def test_eval_batches_are_normalised_shards_in_order(tree, cfg):
    (images, labels), (rest, rest_labels) = batches(tree, cfg, train=False)[:2]
    assert labels.tolist() == [0, 0, 1, 1] and rest_labels.tolist() == [2, 2]
    pixels = resize_256_crop_224(tree / "val" / "cat" / "0.png").permute(2, 0, 1).double() / 255
    expected = (pixels - torch.tensor(cfg["mean"]).view(3, 1, 1)) / torch.tensor(cfg["std"]).view(3, 1, 1)
    torch.testing.assert_close(images[0].double(), expected, atol=1e-5, rtol=0)
    shards = [batches(tree, cfg, ranks=Ranks(rank, 2), train=False) for rank in range(2)]
    assert [torch.cat([y for _, y in shard[:len(shard) // 2]]).tolist() for shard in shards] == [[0, 0, 1], [1, 2, 2]]


def test_zoo_resnet18_trains_a_step_and_validates(tree, tmp_path, capsys):
    out = tmp_path / "run"
    cpu = torch.device("cpu")
    recipe = Recipe(model="zoo_resnet18", dataset="imagefolder", epochs=1, batch_size=4, lr=default_lr(4), subset=4,
                    warmup_epochs=0, precision=resolve_precision("auto", cpu))
    folder = train(recipe, RunOptions(data=tree, out=out, device=cpu, workers=1)).folder
    assert folder == out / "zoo_resnet18.rz_imagefolder"
    log = [json.loads(line) for line in (out / TRAIN_LOG_NAME).read_text().splitlines()]
    assert len(log) == 1
    config = json.loads((folder / "config.json").read_text())
    assert config["num_classes"] == 3 and config["pretrained_cfg"]["label_names"] == list(CLASSES)
    assert config["pretrained_cfg"]["mean"] == list(timm.create_model("zoo_resnet18").pretrained_cfg["mean"])

    capsys.readouterr()  # the run's progress
    assert main(["validate", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--data", str(tree),
                 "--checkpoint", str(folder), "--device", "cpu", "--workers", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 6
    assert (report["top1"], report["top5"]) == (log[0]["test_top1"], log[0]["test_top5"])


def test_a_run_and_its_weights_go_only_with_their_own_classes(tree, tmp_path, capsys):
    """Resumed on a tree whose class folders differ (one renamed, one more), the run stops with the difference;
    validated on it, its weights too."""
    out = tmp_path / "run"
    argv = ["train", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--epochs", "2", "--batch-size", "4",
            "--subset", "4", "--out", str(out), "--device", "cpu", "--workers", "0"]
    assert main([*argv, "--data", str(tree)]) == 0
    renamed, more = tmp_path / "renamed", tmp_path / "more"
    for other in (renamed, more):
        shutil.copytree(tree, other)
    for split in ("train", "val"):
        (renamed / split / "dog").rename(renamed / split / "dingo")
        shutil.copytree(more / split / "dog", more / split / "emu")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    for data, difference in ((renamed, "class 1 is 'dingo', the run's 'dog'"), (more, "4 classes against the run's 3")):
        assert main([*argv, "--data", str(data), "--resume"]) == 1
        assert capsys.readouterr().err == (f"resnet-zoo train: error: the classes under {data} are not the run's: "
                                           f"{difference}\n")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # nor do its weights evaluate on them: the exported folder's label names, the checkpoint's recorded classes
    for weights in (out / "zoo_resnet18.rz_imagefolder", out / CHECKPOINT_FILE):
        assert main(["validate", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--data", str(renamed),
                     "--checkpoint", str(weights), "--device", "cpu", "--workers", "0"]) == 1
        assert capsys.readouterr().err == (f"resnet-zoo validate: error: the data's classes are not those "
                                           f"zoo_resnet18 with {weights} was trained on: class 1 is 'dingo', the "
                                           f"weights' 'dog'\n")


@pytest.mark.parametrize("argv, message", [
    (["--cutout", "16"], "--cutout is for CIFAR, not an image folder"),
    (["--download"], "--download fetches CIFAR only"),
])
def test_cifar_only_options_are_refused(tree, tmp_path, capsys, argv, message):
    assert main(["train", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--data", str(tree), "--out",
                 str(tmp_path / "run"), "--batch-size", "4", "--device", "cpu", *argv]) == 1
    assert message in capsys.readouterr().err


def test_validate_refuses_download_for_an_image_folder(tree, tmp_path, capsys):
    save_file(timm.create_model("zoo_resnet18", num_classes=3).state_dict(), str(tmp_path / "model.safetensors"))
    assert main(["validate", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--data", str(tree), "--download",
                 "--checkpoint", str(tmp_path / "model.safetensors"), "--device", "cpu"]) == 1
    assert capsys.readouterr().err == ("resnet-zoo validate: error: --download fetches CIFAR only; an image folder "
                                       "must be on disk\n")


def test_an_unreadable_image_is_named(tree, tmp_path, capsys):
    broken = tmp_path / "images"
    shutil.copytree(tree, broken)
    (broken / "val" / "dog" / "1.png").write_bytes(b"not a png")
    model = timm.create_model("zoo_resnet18", num_classes=3)
    save_file(model.state_dict(), str(tmp_path / "model.safetensors"))
    assert main(["validate", "--model", "zoo_resnet18", "--dataset", "imagefolder", "--data", str(broken),
                 "--checkpoint", str(tmp_path / "model.safetensors"), "--device", "cpu", "--workers", "0"]) == 1
    assert f"error: cannot read image {broken / 'val' / 'dog' / '1.png'}: " in capsys.readouterr().err


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("command", ["validate", "train"])
def test_one_bad_image_is_one_line_naming_it_whatever_the_workers(tree, tmp_path, capsys, command, workers):
    """A worker process hands the error to the main process, which raises it: not torch's re-raised traceback text,
    nor Pillow's file object instead of the path; and a run that fails writes no run folder."""
    broken = tmp_path / "images"
    shutil.copytree(tree, broken)
    bad = broken / ("val" if command == "validate" else "train") / "dog" / "1.png"
    bad.write_bytes(b"not a png")
    save_file(timm.create_model("cifar_resnet20", num_classes=3).state_dict(), str(tmp_path / "model.safetensors"))
    options = (["--checkpoint", str(tmp_path / "model.safetensors")] if command == "validate" else
               ["--out", str(tmp_path / "run"), "--batch-size", "4", "--epochs", "1"])
    assert main([command, "--model", "cifar_resnet20", "--dataset", "imagefolder", "--data", str(broken), *options,
                 "--device", "cpu", "--workers", workers]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo {command}: error: cannot read image {bad}: cannot identify image "
                                       f"file (not an image format Pillow reads)\n")
    assert not (tmp_path / "run").exists()
