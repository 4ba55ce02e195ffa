"""convert: torchvision, timm and CIFAR-reproduction checkpoints become Hub folders with identical outputs."""
import argparse
import json
from pathlib import Path

import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from huggingface_hub import ModelCard
from safetensors.torch import save_file

import resnet_zoo  # noqa: F401  (registers the models)
from resnet_zoo.commands.cli import main
from resnet_zoo.conversion import convert, read_checkpoint
from resnet_zoo.errors import WeightsError
from resnet_zoo.hub import verify
from resnet_zoo.resnet import architecture_options

from reference_resnet import CifarResNet


@torch.no_grad()
def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every tensor random (running variances positive), in eval mode, so outputs depend on all of them."""
    generator = torch.Generator().manual_seed(seed)
    for key, tensor in module.state_dict().items():
        if key.endswith("running_var"):
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        elif tensor.is_floating_point():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
    return module.eval()


def outputs(model: nn.Module, size: int) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3)))


def load(folder: Path) -> nn.Module:
    return timm.create_model(f"local-dir:{folder}", pretrained=True)


def assert_same_up_to_pooling(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """The reproduction pools with ``avg_pool2d``, timm with a mean: equal up to float summation order."""
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def test_torchvision_resnet50_round_trips_to_identical_outputs(tmp_path):
    reference = randomize(torchvision.models.resnet50())
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    folder = convert(tmp_path / "resnet50.pth", tmp_path / "zoo_resnet50.tv_in1k", model="zoo_resnet50",
                     tag="tv_in1k", dataset="imagenet-1k", metrics={"top1": 76.13, "top5": 92.862})
    assert torch.equal(outputs(load(folder), 64), outputs(reference, 64))
    assert verify(folder)["num_params"] == 25_557_032
    assert architecture_options(json.loads((folder / "config.json").read_text()).get("model_args", {})) == {}


def test_timm_training_checkpoint_round_trips(tmp_path):
    reference = randomize(timm.create_model("resnet18"))
    torch.save({"epoch": 3, "arch": "resnet18", "state_dict": reference.state_dict(),
                "args": argparse.Namespace(lr=0.1, model="resnet18")}, tmp_path / "checkpoint-3.pth.tar")
    folder = convert(tmp_path / "checkpoint-3.pth.tar", tmp_path / "out", model="zoo_resnet18", tag="timm_in1k")
    assert torch.equal(outputs(load(folder), 64), outputs(reference, 64))


@pytest.mark.parametrize("option", ["A", "B"])
def test_cifar_reproduction_checkpoint_round_trips(tmp_path, option):
    reference = randomize(CifarResNet(3, option))
    state_dict = nn.DataParallel(reference).state_dict()
    for key in [k for k in state_dict if k.endswith("num_batches_tracked")]:
        del state_dict[key]  # as saved by PyTorch < 0.4.1
    # a training checkpoint in the legacy (pre-1.6, non-zip) serialization
    torch.save({"state_dict": state_dict, "best_prec1": 91.73}, tmp_path / "resnet20.th",
               _use_new_zipfile_serialization=False)
    folder = convert(tmp_path / "resnet20.th", tmp_path / "out", model="cifar_resnet20", tag="repro")
    assert_same_up_to_pooling(outputs(load(folder), 32), outputs(reference, 32))
    config = json.loads((folder / "config.json").read_text())
    assert architecture_options(config.get("model_args", {})) == ({"shortcut": "A"} if option == "A" else {})


def test_safetensors_checkpoint_with_a_linear_head(tmp_path):
    reference = randomize(CifarResNet(3, "B", num_classes=100))
    save_file(reference.state_dict(), tmp_path / "r.safetensors")
    folder = convert(tmp_path / "r.safetensors", tmp_path / "out", model="cifar_resnet20", tag="repro_c100")
    loaded = load(folder)
    assert loaded.num_classes == 100
    assert_same_up_to_pooling(outputs(loaded, 32), outputs(reference, 32))


class Net(nn.Module):
    pass


def test_a_checkpoint_that_needs_unpickling_is_refused(tmp_path):
    torch.save({"state_dict": {}, "net": Net()}, tmp_path / "whole.pth")
    with pytest.raises(WeightsError, match=r"whole\.pth: refused: it holds Python objects \(test_convert\.Net\), and "
                                           r"unpickling them can run code"):
        read_checkpoint(tmp_path / "whole.pth")


@pytest.mark.parametrize("content, message", [
    (b"not a checkpoint", r"bad\.pth: not a PyTorch checkpoint \(a torch\.save file of tensors, or \.safetensors\)$"),
    (b"hello", r"bad\.pth: not a PyTorch checkpoint"),  # torch.load raised KeyError: 101 on this one
    ({"epoch": 3, "best_prec1": 91.0}, r"bad\.pth: holds no state dict of tensors \(top level: \['epoch', "
                                       r"'best_prec1'\]; a nested one is looked for under state_dict, model, net\)"),
])
def test_unusable_checkpoints_are_reported(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(WeightsError, match=message):
        read_checkpoint(path)


def test_convert_command(tmp_path, capsys):
    torch.save({"state_dict": randomize(CifarResNet(3, "A")).state_dict()}, tmp_path / "r.pth")
    out = tmp_path / "hub" / "cifar_resnet20.repro"
    assert main(["convert", str(tmp_path / "r.pth"), str(out), "--model", "cifar_resnet20", "--tag", "repro",
                 "--dataset", "cifar10", "--top1", "91.73", "--top5", "99.7", "--max-shard-size", "500KB"]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert verify(out)["metrics"] == {"top1": 91.73, "top5": 99.7}
    assert len(list(out.glob("model-*.safetensors"))) == 3
    assert main(["convert", str(tmp_path / "r.pth"), str(tmp_path / "x"), "--model", "cifar_resnet56",
                 "--tag", "repro"]) == 1
    assert capsys.readouterr().err.startswith(
        f"resnet-zoo convert: error: {tmp_path / 'r.pth'} does not fit cifar_resnet56: 216 missing keys: ")


def test_convert_credits_weights_made_elsewhere(tmp_path):
    """Their normalisation, licence and origin go into config.json; credit, reported top-1 and licence text into
    the card, with the licence as its front matter's."""
    reference = randomize(CifarResNet(3, "A"))
    torch.save({"state_dict": nn.DataParallel(reference).state_dict()}, tmp_path / "r.th")
    licence = "Copyright (c) 2018, Someone\n\nRedistributions must retain this notice.\n"
    (tmp_path / "LICENSE").write_text(licence)
    out = tmp_path / "cifar_resnet20.ext_cifar10"
    assert main(["convert", str(tmp_path / "r.th"), str(out), "--model", "cifar_resnet20", "--tag", "ext_cifar10",
                 "--dataset", "cifar10", "--top1", "91.7", "--top5", "99.6", "--source-top1", "91.73",
                 "--mean", "0.5", "0.4", "0.3", "--std", "0.2", "0.25", "0.3", "--license", "bsd-2-clause",
                 "--license-file", str(tmp_path / "LICENSE"), "--origin-url", "https://example.org/r",
                 "--source", "[r](https://example.org/r) at commit abc1234"]) == 0
    cfg = json.loads((out / "config.json").read_text())["pretrained_cfg"]
    assert {k: cfg[k] for k in ("mean", "std", "license", "origin_url")} == {
        "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "license": "bsd-2-clause",
        "origin_url": "https://example.org/r"}
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "bsd-2-clause"
    assert "| Source | [r](https://example.org/r) at commit abc1234 |\n" in card.text
    assert "| Top-1 accuracy (%) | 91.70 |\n| Top-5 accuracy (%) | 99.60 |\n" \
           "| Top-1 reported by the source (%) | 91.73 |" in card.text
    assert "## License\n\nThe weights are under their source's licence, `bsd-2-clause`, whose text follows in " \
           f"full:\n\n```text\n{licence.strip()}\n```\n" in card.text
    loaded = load(out)
    assert tuple(loaded.pretrained_cfg["mean"]) == (0.5, 0.4, 0.3)
    assert tuple(loaded.pretrained_cfg["std"]) == (0.2, 0.25, 0.3)
    assert_same_up_to_pooling(outputs(loaded, 32), outputs(reference, 32))


def test_convert_refuses_an_unreadable_licence_file(tmp_path, capsys):
    torch.save(randomize(CifarResNet(3, "A")).state_dict(), tmp_path / "r.pth")
    assert main(["convert", str(tmp_path / "r.pth"), str(tmp_path / "out"), "--model", "cifar_resnet20",
                 "--tag", "ext", "--license-file", str(tmp_path / "LICENSE")]) == 1
    assert capsys.readouterr().err == \
        f"resnet-zoo convert: error: --license-file {tmp_path / 'LICENSE'}: No such file or directory\n"
    assert not (tmp_path / "out").exists()
