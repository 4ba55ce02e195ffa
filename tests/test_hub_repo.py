"""The weights this repo ships in ``hub/``: each folder is exactly one publishable Hub repo, small enough for git,
registered under its name (and nothing else is), served by ``RESNET_ZOO_WEIGHTS=hub``, and scoring its card."""
import json
from pathlib import Path

import pytest
import timm
import torch

import resnet_zoo  # noqa: F401  (registers the models)
from resnet_zoo.blocks import PadShortcut
from resnet_zoo.cards import CARD_NAME, SOURCE_TOP1_LABEL
from resnet_zoo.commands.cli import main
from resnet_zoo.constants import LAST_CHECKPOINT, RECIPE_TAG_PREFIX
from resnet_zoo.hub import publish_files, verify
from resnet_zoo.precision import native_bf16
from resnet_zoo.pretrained import HF_HUB_ORG, hub_id
from resnet_zoo.resnet import PRETRAINED, is_zoo_model
from resnet_zoo.weights import WEIGHTS_ENV

from hf_cache import add_to_hf_cache, load_offline, loaded_file
from shipped import HUB, default_or_slow

MAX_FILE_BYTES = 10 * 2 ** 20
"""Largest weights file git should hold; export bigger models with ``--max-shard-size 10MB``."""
RUN_STATE_EXTRA_BYTES = 2 ** 20
"""What a run's state may hold beyond twice the model's weights: its JSON (recipe, log, sittings) and header."""
AKAMASTER_TOP1 = {f"cifar_resnet{depth}.ak_cifar10": top1
                  for depth, top1 in {20: 91.73, 32: 92.63, 44: 93.10, 56: 93.39}.items()}
"""Top-1 (%) akamaster/pytorch_resnet_cifar10 publishes for its checkpoints (100 minus its test error)."""
RECIPE_WEIGHTS = [name for name in PRETRAINED if name.partition(".")[2].startswith(RECIPE_TAG_PREFIX)]
"""The shipped weights trained by this project's recipe."""
BF16_TOP1_CHANGE = 0.10
"""Largest change of top-1 (points) that bf16 may make to a weight's fp32 top-1 (as `test_precision` holds)."""


@pytest.fixture(params=PRETRAINED)
def folder(request: pytest.FixtureRequest) -> Path:
    """The ``hub/`` folder of each registered weights (`PRETRAINED`, never empty): a checkout without it fails."""
    folder = HUB / request.param
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: run these tests in a checkout of the repository, with its hub/")
    return folder


def test_registered_weights_are_exactly_the_hub_folders():
    assert PRETRAINED, "no registered weights: the tests over hub/ folders would check nothing"
    assert RECIPE_WEIGHTS, f"no {RECIPE_TAG_PREFIX}* weights: the tests of the recipe's weights would check nothing"
    registered = sorted(n for n in timm.list_pretrained() if is_zoo_model(n))
    assert registered == sorted(PRETRAINED) == sorted(p.name for p in HUB.iterdir() if p.is_dir())


def test_shipped_folder_is_publishable_and_small(folder):
    """Weights files fit git; a run's state (raw and EMA weights) is at most twice the weights, whatever the depth."""
    files = publish_files(folder, f"{HF_HUB_ORG}/{folder.name}")
    weights_bytes = sum((folder / name).stat().st_size for name in verify(folder)["files"])
    run_state_bytes = 2 * weights_bytes + RUN_STATE_EXTRA_BYTES
    limits = {f: run_state_bytes if f.parent.name == LAST_CHECKPOINT else MAX_FILE_BYTES for f in files}
    big = [f"{f.relative_to(folder)} ({f.stat().st_size:,} bytes > {limit:,})"
           for f, limit in limits.items() if f.stat().st_size > limit]
    assert not big, f"{folder}: files too big for git: {', '.join(big)}"


def test_shipped_weights_load_by_name_as_their_config_says(folder, monkeypatch):
    """By name, a folder's weights build its config.json's architecture, with its pretrained cfg."""
    monkeypatch.setenv(WEIGHTS_ENV, str(HUB))
    model = timm.create_model(folder.name, pretrained=True)
    assert Path(model.pretrained_cfg["file"]).is_relative_to(folder)
    assert [type(m) for m in model.modules()] == [type(m) for m in timm.create_model(f"local-dir:{folder}").modules()]
    config = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    registered = timm.get_pretrained_cfg(folder.name).to_dict()
    assert json.loads(json.dumps({k: registered.get(k) for k in config})) == config


def test_pretrained_without_a_tag_loads_the_default_architectures_weights(monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(HUB))
    for weights in RECIPE_WEIGHTS:  # shortcut B, the default architecture, listed before any shortcut-A weights
        model = timm.create_model(weights.partition(".")[0], pretrained=True)
        assert Path(model.pretrained_cfg["file"]).parent == HUB / weights
        assert not any(isinstance(m, PadShortcut) for m in model.modules())


def test_shipped_cifar_resnet56_ak_loads_by_name_hf_hub_and_local_dir(tmp_path):
    """Through a real huggingface_hub cache, offline, as from the Hub; and from the folder itself."""
    folder = HUB / "cifar_resnet56.ak_cifar10"
    local = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    assert isinstance(local.layer3[0].downsample, PadShortcut)
    with torch.no_grad():
        expected = local(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(7)))
    repo_id = hub_id("cifar_resnet56", "ak_cifar10")
    add_to_hf_cache(tmp_path / "hf", repo_id, folder)
    names = ["cifar_resnet56.ak_cifar10", f"hf-hub:{repo_id}"]
    outputs, errors = load_offline([[name, None] for name in names], tmp_path / "hf", tmp_path / "out.safetensors")
    assert errors == {}
    for name in names:
        assert torch.equal(outputs[f"{name}|None"], expected)
        assert loaded_file(outputs, f"{name}|None").startswith(str(tmp_path / "hf" / "hub"))


@pytest.mark.parametrize("name", default_or_slow(AKAMASTER_TOP1))
def test_shipped_akamaster_weights_score_their_published_top1(name, shipped_top1):
    assert round(shipped_top1(name), 2) == AKAMASTER_TOP1[name] == verify(HUB / name)["metrics"]["top1"]
    assert f"| {SOURCE_TOP1_LABEL} | {AKAMASTER_TOP1[name]:.2f} |" in (HUB / name / CARD_NAME).read_text()


@pytest.mark.parametrize("name", default_or_slow(RECIPE_WEIGHTS))
def test_shipped_recipe_weights_score_their_card(name, shipped_top1):
    """Measured in fp32 without resnet_zoo's data or CLI, each gives its card's top-1: to the hundredth where the
    run evaluated in fp32, within `BF16_TOP1_CHANGE` where it evaluated in bf16."""
    shipped = verify(HUB / name)
    precision = json.loads(shipped["metadata"]["recipe"]).get("precision", "fp32")
    tolerance = BF16_TOP1_CHANGE if precision == "bf16" else 0.
    assert abs(round(shipped_top1(name), 2) - shipped["metrics"]["top1"]) <= tolerance + 1e-9


def test_shipped_cifar_resnet20_reproduces_its_card(cifar10_root, monkeypatch, capsys):
    """``validate --pretrained`` on the full CIFAR-10 test set gives the card's top-1 and top-5.

    At the precision the run evaluated in (a recipe from before ``precision`` was fp32): to the hundredth in fp32,
    within 0.05 points in bf16 (other CPUs' bf16 kernels round differently). Where bf16 is emulated (minutes), a
    bf16 card is checked in fp32, within the 0.10 points that bf16 may differ from fp32 (`test_precision`).
    """
    shipped = verify(HUB / "cifar_resnet20.rz_cifar10")
    card = shipped["metrics"]
    precision = json.loads(shipped["metadata"]["recipe"]).get("precision", "fp32")
    if precision == "bf16" and not native_bf16(torch.device("cpu")):
        precision, tolerance = "fp32", BF16_TOP1_CHANGE
    else:
        tolerance = 0.05 if precision == "bf16" else 0.
    monkeypatch.setenv(WEIGHTS_ENV, str(HUB))
    assert main(["validate", "--model", "cifar_resnet20", "--pretrained", "--data", str(cifar10_root),
                 "--device", "cpu", "--precision", precision, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == 10_000
    assert abs(round(metrics["top1"], 2) - round(card["top1"], 2)) <= tolerance + 1e-9
    assert abs(round(metrics["top5"], 2) - round(card["top5"], 2)) <= tolerance + 1e-9
