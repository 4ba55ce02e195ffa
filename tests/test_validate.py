"""``evaluate`` against hand-computed metrics, `evaluate_weights` and ``resnet-zoo validate`` on every kind of
weights source."""
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Tuple
from urllib.error import URLError

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from resnet_zoo.cifar import CifarSplit, DeviceLoader, read_batch
from resnet_zoo.cifar_constants import CIFAR10_MEAN, CIFAR10_STD
from resnet_zoo.commands.cli import main
from resnet_zoo.evaluation import evaluate, evaluate_weights
from resnet_zoo.hub import export
from resnet_zoo.weights import WEIGHTS_ENV

from shipped import HUB

SUBSET = 100


class Mirror(nn.Module):
    """Flips images left to right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1)


class Lookup(nn.Module):
    """Returns row ``i`` of a fixed logits table for an image whose first pixel value is ``i``."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x[:, 0, 0, 0].round().long()]


def test_evaluate_matches_hand_computed_metrics():
    n, classes = 50, 10
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(n, classes, generator=generator) * 3
    labels = torch.randint(0, classes, (n,), generator=generator)
    images = torch.zeros(n, 32, 32, 3, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    loader = DeviceLoader(CifarSplit(images, labels, ()), 16, (0., 0., 0.), (1 / 255,) * 3)
    model = Lookup(table).train()

    metrics = evaluate(model, loader)

    rank = (table > table[torch.arange(n), labels][:, None]).sum(1)  # classes scored above the true one
    expected_loss = (table.double().logsumexp(1) - table.double()[torch.arange(n), labels]).mean()
    assert metrics.top1 == 100 * (rank == 0).sum().item() / n
    assert metrics.top5 == 100 * (rank < 5).sum().item() / n
    assert 0 < metrics.top1 < metrics.top5 < 100
    assert metrics.loss == pytest.approx(expected_loss.item(), rel=1e-6)
    assert metrics.images == n and metrics.img_per_s > 0
    assert model.training  # its mode is given back


# ---------------------------------------------------------------------------------------------------------------
# resnet-zoo validate


def random_model(name: str, seed: int) -> nn.Module:
    """``name`` with random weights and BN statistics, so that every tensor matters."""
    torch.manual_seed(seed)
    model = timm.create_model(name).eval()
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.normal_(0, 0.2)
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random cifar_resnet20 and the same weights as a safetensors file and as an exported Hub folder."""
    folder = tmp_path_factory.mktemp("weights")
    model = random_model("cifar_resnet20", 0)
    save_file(model.state_dict(), folder / "plain.safetensors")
    export(model, folder / "hub" / "cifar_resnet20.rz_cifar10", tag="rz_cifar10")
    return model, folder


def plain_logits(model: nn.Module, root: Path, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits (fp32, eager) of ``model`` on the first ``n`` CIFAR-10 test images and their labels, read and
    normalised by hand: no resnet_zoo loader, evaluation or command."""
    batch = read_batch(root / "cifar-10-batches-py" / "test_batch")
    images = torch.from_numpy(batch["data"][:n]).view(-1, 3, 32, 32).float().div(255)
    images = (images - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return model.eval()(images), torch.tensor(batch["labels"][:n])


@pytest.fixture(scope="module")
def expected(weights, cifar10_root) -> SimpleNamespace:
    """Top-1, top-5 (percent) and mean cross-entropy of the random model on the first test images, by a plain loop."""
    logits, labels = plain_logits(weights[0], cifar10_root, SUBSET)
    top5 = logits.topk(5).indices == labels[:, None]
    return SimpleNamespace(top1=100 * top5[:, 0].sum().item() / SUBSET, top5=100 * top5.any(1).sum().item() / SUBSET,
                           loss=F.cross_entropy(logits, labels).item())


def run_json(capsys, *argv: str) -> dict:
    assert main(["validate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("source", ["plain.safetensors", "hub/cifar_resnet20.rz_cifar10"])
def test_checkpoint_file_and_hub_folder(capsys, weights, expected, cifar10_root, source):
    """The exact path (``--precision fp32``) against the plain loop; `test_precision` covers the fast one."""
    report = run_json(capsys, "--model", "cifar_resnet20", "--checkpoint", str(weights[1] / source),
                      "--data", str(cifar10_root), "--subset", str(SUBSET), "--batch-size", "64",
                      "--precision", "fp32")
    assert report["model"] == "cifar_resnet20" and report["dataset"] == "cifar10"
    assert report["images"] == SUBSET
    assert (report["top1"], report["top5"]) == (expected.top1, expected.top5)
    assert report["loss"] == pytest.approx(expected.loss, rel=1e-5)
    assert report["img_per_s"] > 0


@pytest.mark.parametrize("source", ["plain.safetensors", "hub/cifar_resnet20.rz_cifar10"])
def test_evaluate_weights_is_validate_from_python(weights, expected, cifar10_root, source):
    metrics = evaluate_weights("cifar_resnet20", cifar10_root, checkpoint=weights[1] / source, precision="fp32",
                               device=torch.device("cpu"), batch_size=64, subset=SUBSET)
    assert (metrics.images, metrics.top1, metrics.top5) == (SUBSET, expected.top1, expected.top5)
    assert metrics.loss == pytest.approx(expected.loss, rel=1e-5)


def test_pretrained_weights_are_the_registered_ones(capsys, weights, expected, cifar10_root, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights[1] / "hub"))
    report = run_json(capsys, "--model", "cifar_resnet20", "--pretrained", "--data", str(cifar10_root),
                      "--subset", str(SUBSET), "--batch-size", "64")
    assert (report["top1"], report["top5"]) == (expected.top1, expected.top5)


def test_text_report(capsys, weights, expected, cifar10_root):
    assert main(["validate", "--model", "cifar_resnet20", "--checkpoint", str(weights[1] / "plain.safetensors"),
                 "--data", str(cifar10_root), "--subset", str(SUBSET), "--batch-size", "64", "--device", "cpu",
                 "--precision", "fp32"]) == 0
    assert capsys.readouterr().out.startswith(
        f"cifar_resnet20 on CIFAR-10 test ({SUBSET} images): top-1 {expected.top1:.2f}%  "
        f"top-5 {expected.top5:.2f}%  loss {expected.loss:.4f}  ")


@pytest.mark.parametrize("argv, message", [
    (["--model", "cifar_resnet32", "--checkpoint", "hub/cifar_resnet20.rz_cifar10"],
     "holds a cifar_resnet20, not a cifar_resnet32"),
    (["--model", "cifar_resnet32", "--checkpoint", "plain.safetensors"], "does not fit cifar_resnet32"),
    (["--model", "cifar_resnet20", "--checkpoint", "hub/cifar_resnet20.rz_cifar10", "--dataset", "cifar100"],
     "has 10 classes, CIFAR-100 has 100"),
    (["--model", "cifar_resnet20", "--checkpoint", "hub"], "hub is not a Hub model folder: it has no config.json"),
    (["--model", "cifar_resnet20", "--checkpoint", "nothing.safetensors"],
     "nothing.safetensors: no such file or folder"),
    (["--model", "resnet18", "--checkpoint", "plain.safetensors"], "'resnet18' is not a resnet-zoo model"),
    (["--model", "cifar_resnet20", "--checkpoint", "plain.safetensors", "--device", "gpu"], "invalid --device"),
])
def test_bad_weights_or_options_exit_1_with_the_reason(capsys, weights, tmp_path, argv, message):
    argv = [str(weights[1] / a) if a.startswith(("hub", "plain", "nothing")) else a for a in argv]
    assert main(["validate", *argv, "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo validate: error: ") and message in err


def test_missing_data_names_the_files(capsys, weights, tmp_path):
    argv = ["--model", "cifar_resnet20", "--checkpoint", str(weights[1] / "plain.safetensors")]
    assert main(["validate", *argv, "--data", str(tmp_path)]) == 1
    assert f"{tmp_path / 'cifar-10-batches-py' / 'test_batch'}" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["cifar10", "imagefolder"])
def test_missing_data_folder_is_one_line(capsys, weights, tmp_path, dataset):
    argv = ["--model", "cifar_resnet20", "--checkpoint", str(weights[1] / "plain.safetensors")]
    assert main(["validate", *argv, "--data", str(tmp_path / "nowhere"), "--dataset", dataset]) == 1
    assert capsys.readouterr().err == f"resnet-zoo validate: error: {tmp_path / 'nowhere'}: folder does not exist\n"


@pytest.mark.parametrize("command", ["validate", "train"])
def test_download_without_network_is_one_line(capsys, weights, tmp_path, monkeypatch, command):
    """``validate --download`` and ``train --download`` share `resnet_zoo.cifar.download_cifar`."""
    def offline(url, *args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("resnet_zoo.cifar.download_and_extract_archive", offline)
    weights = ["--checkpoint", str(weights[1] / "plain.safetensors")] if command == "validate" else []
    out = ["--out", str(tmp_path / "run")] if command == "train" else []
    assert main([command, "--model", "cifar_resnet20", *weights, *out, "--data", str(tmp_path / "data"),
                 "--download"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"resnet-zoo {command}: error: cannot download CIFAR-10 from https://")
    assert err.endswith(f"into {tmp_path / 'data'}: no network\n") and err.count("\n") == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()  # the download made it, and went


def test_exactly_one_weights_source_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--model", "cifar_resnet20", "--data", "x"])
    assert "one of the arguments --pretrained --checkpoint is required" in capsys.readouterr().err


def test_flip_tta_is_the_mean_of_the_logits_of_each_image_and_its_mirror_beside_the_plain_metrics(capsys,
                                                                                                   cifar10_root):
    """The shipped ResNet-20 on the first test images, fp32: the flip metrics against a plain loop of their own."""
    folder = HUB / "cifar_resnet20.rz_cifar10"
    argv = ["--model", "cifar_resnet20", "--checkpoint", str(folder), "--data", str(cifar10_root), "--subset",
            "500", "--precision", "fp32", "--device", "cpu"]
    plain, report = run_json(capsys, *argv), run_json(capsys, *argv, "--tta", "flip")
    flip = report.pop("flip")
    assert report == dict(plain, img_per_s=report["img_per_s"])  # the plain figures stay as they were
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    logits, labels = plain_logits(model, cifar10_root, 500)
    logits = (logits + plain_logits(nn.Sequential(Mirror(), model), cifar10_root, 500)[0]) / 2
    assert flip["top1"] == 100 * (logits.argmax(1) == labels).sum().item() / 500
    assert flip["top5"] == 100 * (logits.topk(5).indices == labels[:, None]).any(1).sum().item() / 500
    assert flip["loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert flip["top1"] != report["top1"] and flip["images"] == 500
    assert main(["validate", *argv, "--tta", "flip"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[1] == f"with flip TTA: top-1 {flip['top1']:.2f}%  top-5 {flip['top5']:.2f}%  loss {flip['loss']:.4f}"
