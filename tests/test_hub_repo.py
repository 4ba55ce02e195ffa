"""The weights this repo ships in ``hub/``: each folder is exactly one publishable Hub repo, small enough for git,
and ``RESNET_ZOO_WEIGHTS=hub`` serves it to ``timm.create_model`` by name."""
from pathlib import Path

import pytest
import timm

import resnet_zoo  # noqa: F401  (registers the models)
from resnet_zoo.hub import publish_files
from resnet_zoo.pretrained import HF_HUB_ORG
from resnet_zoo.weights import WEIGHTS_ENV

HUB = Path(__file__).resolve().parents[1] / "hub"
FOLDERS = sorted(p for p in HUB.iterdir() if p.is_dir()) if HUB.is_dir() else []
MAX_FILE_BYTES = 10 * 2 ** 20
"""Largest file git should hold; export bigger models with ``--max-shard-size 10MB``."""


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_shipped_folder_is_publishable_and_small(folder):
    files = publish_files(folder, f"{HF_HUB_ORG}/{folder.name}")
    big = [f"{f.name} ({f.stat().st_size:,} bytes)" for f in files if f.stat().st_size > MAX_FILE_BYTES]
    assert not big, f"{folder}: files over {MAX_FILE_BYTES:,} bytes: {', '.join(big)}"


@pytest.mark.parametrize("folder", [f for f in FOLDERS if timm.list_pretrained(f.name)], ids=lambda p: p.name)
def test_shipped_weights_load_by_name_through_the_weights_folder(folder, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(HUB))
    model = timm.create_model(folder.name, pretrained=True)
    assert Path(model.pretrained_cfg["file"]).is_relative_to(folder)


def test_shipped_cifar_resnet20_reproduces_its_card(cifar10_root, monkeypatch, capsys):
    """``validate --pretrained`` on the full CIFAR-10 test set gives the card's top-1 to the hundredth."""
    import json

    from resnet_zoo.cli import main
    from resnet_zoo.hub import verify

    card = verify(HUB / "cifar_resnet20.rz_cifar10")["metrics"]
    monkeypatch.setenv(WEIGHTS_ENV, str(HUB))
    assert main(["validate", "--model", "cifar_resnet20", "--pretrained", "--data", str(cifar10_root),
                 "--device", "cpu", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == 10_000
    assert round(metrics["top1"], 2) == round(card["top1"], 2)
    assert round(metrics["top5"], 2) == round(card["top5"], 2)
