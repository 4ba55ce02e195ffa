"""export / verify / publish: the Hub folder's exact contents, its checks, atomic writes, and the commands.

The model card's contents are tested in ``test_cards``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import resnet_zoo
from resnet_zoo.checkpoint import EMA_PREFIX, MODEL_PREFIX, add_prefix, save_checkpoint
from resnet_zoo.cifar_constants import CIFAR100_MEAN, CIFAR100_STD
from resnet_zoo.commands.cli import main
from resnet_zoo.errors import WeightsError, ZooError
from resnet_zoo.hub import export, git_commit, publish_files, verify
from resnet_zoo.pretrained import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from resnet_zoo.resnet import architecture_options

from full_export import export_full, sha256, write_log


@pytest.fixture
def folder(tmp_path) -> Path:
    return export_full(tmp_path)


def git(repo: Path, *args: str) -> str:
    """``git -C repo ARGS``'s output, with an identity for commits and no signing."""
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.org",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


def test_export_writes_timm_config(folder, tmp_path):
    """timm's layout (``save_config_for_hf``): label names at the top level too, for transformers' id2label."""
    config = json.loads((folder / "config.json").read_text())
    cfg = config.pop("pretrained_cfg")
    model_args = config.pop("model_args", {})  # what rebuilds the model: timm records the constructor's shape
    assert architecture_options(model_args) == {} and "num_classes" not in model_args  # transformers passes it
    assert config == {"architecture": "cifar_resnet20", "num_classes": 10, "num_features": 64, "global_pool": "avg",
                      "label_names": list(CIFAR10_CLASSES)}
    assert cfg == {
        "tag": "rz_cifar10", "custom_load": False, "input_size": [3, 32, 32], "fixed_input_size": False,
        "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center", "mean": list(CIFAR10_MEAN),
        "std": list(CIFAR10_STD), "num_classes": 10, "label_names": list(CIFAR10_CLASSES), "pool_size": [8, 8],
        "first_conv": "conv1", "classifier": "fc", "license": "apache-2.0", "paper_ids": "arXiv:1512.03385",
    }
    assert sorted(p.name for p in folder.iterdir()) == \
        ["README.md", "config.json", "model.safetensors", "train_log.jsonl", "training_curve.png"]
    assert {p.stat().st_mode for p in folder.iterdir()} == {(folder / "config.json").stat().st_mode}
    assert (folder / "train_log.jsonl").read_bytes() == (tmp_path / "log.jsonl").read_bytes()


def test_export_writes_metadata_in_the_safetensors_header(tmp_path, monkeypatch):
    monkeypatch.setattr("resnet_zoo.hub.git_commit", lambda file: f"checkout tracking {file.name}")
    with safe_open(str(export_full(tmp_path) / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata()
    assert metadata == {
        "format": "pt", "architecture": "cifar_resnet20", "tag": "rz_cifar10", "dataset": "cifar10",
        "top1": "91.73", "top5": "99.71", "loss": "0.2891", "recipe": '{"epochs": 2, "lr": 0.1}',
        "resnet_zoo_version": resnet_zoo.__version__, "timm_version": timm.__version__,
        "git_commit": "checkout tracking hub.py",
    }


def test_git_commit_names_the_checkout_that_tracks_the_file(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    (repo / "pkg").mkdir()
    module, untracked, data = repo / "pkg" / "module.py", repo / "pkg" / "untracked.py", repo / "run-state.txt"
    module.write_text("x = 1\n")
    data.write_text("epoch 1\n")
    git(repo, "add", "pkg/module.py", data.name)
    git(repo, "commit", "-q", "-m", "module")
    untracked.write_text("")  # untracked files leave the checkout clean
    data.write_text("epoch 2\n")  # and so does a run's state beside the code, written as it trains
    head = git(repo, "rev-parse", "HEAD").strip()
    assert len(head) == 40 and git_commit(module) == head
    module.write_text("x = 2\n")
    assert git_commit(module) == f"{head}-dirty"
    assert git_commit(untracked) == "unknown"  # a checkout around the file that does not track it
    assert git_commit(tmp_path / "outside.py") == "unknown"


def test_verify_reports_the_folder(folder):
    info = verify(folder)
    assert info["metadata"]["architecture"] == "cifar_resnet20"
    del info["metadata"]
    assert info == {
        "folder": str(folder), "architecture": "cifar_resnet20", "tag": "rz_cifar10", "num_classes": 10,
        "num_params": 272_474, "files": {"model.safetensors": sha256(folder / "model.safetensors")},
        "metrics": {"top1": 91.73, "top5": 99.71, "loss": 0.2891}, "run": None,
    }


def test_export_without_card_details_verifies(tmp_path):
    model = timm.create_model("cifar_resnet20", num_classes=100)
    folder = export(model, tmp_path / "m", tag="rz_cifar100")
    info = verify(folder)
    assert (info["num_classes"], info["metrics"]) == (100, {})
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "label_names" not in json.loads((folder / "config.json").read_text())["pretrained_cfg"]


def test_sharded_export_lists_every_shard(tmp_path):
    model = timm.create_model("cifar_resnet20")
    folder = export(model, tmp_path / "m", tag="rz_cifar10", max_shard_size="400KB")
    shards = sorted(folder.glob("model-*.safetensors"))
    assert [s.name for s in shards] == [f"model-0000{i}-of-00004.safetensors" for i in (1, 2, 3, 4)]
    assert all(s.stat().st_size <= 400_000 for s in shards)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(model.state_dict())
    assert index["metadata"]["architecture"] == "cifar_resnet20"
    assert verify(folder)["files"] == {s.name: sha256(s) for s in shards}


def test_verify_checks_the_index_against_the_shards(tmp_path):
    folder = export(timm.create_model("cifar_resnet20"), tmp_path / "m", tag="t", max_shard_size="400KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"]["fc.bias"] = "model-00001-of-00004.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match=r"model-00001-of-00004\.safetensors: holds other tensors than "
                                           r"model\.safetensors\.index\.json maps to it$"):
        verify(folder)


def test_reexport_replaces_the_whole_folder(tmp_path):
    model = timm.create_model("cifar_resnet20")
    folder = export(model, tmp_path / "m", tag="rz_cifar10", max_shard_size="400KB")
    export(model, folder, tag="rz_cifar10")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_failed_export_keeps_the_previous_one(folder):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ZooError, match="max_shard_size '10XB'"):
        export(timm.create_model("cifar_resnet20"), folder, tag="rz_cifar10", max_shard_size="10XB")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_export_refuses_to_replace_a_folder_of_other_files(tmp_path):
    export(timm.create_model("cifar_resnet20"), tmp_path / "hub" / "a", tag="rz_cifar10")
    with pytest.raises(ZooError, match=r"refusing to replace .*hub: it holds a, which an export folder does not"):
        export(timm.create_model("cifar_resnet20"), tmp_path / "hub", tag="rz_cifar10")
    assert (tmp_path / "hub" / "a" / "model.safetensors").is_file()


@pytest.mark.parametrize("kwargs, message", [
    (dict(tag="rz.cifar10"), "tag 'rz.cifar10' must be letters, digits and underscores"),
    (dict(tag="t", dataset="cifar10", metrics={"top1": 90.0}), "metrics must have top1 and top5"),
    (dict(tag="t", metrics={"top1": 90.0, "top5": 99.0}), "metrics need the dataset"),
    (dict(tag="t", dataset="cifar10", metrics={"top1": float("nan"), "top5": 99.0}), "finite numbers"),
    (dict(tag="t", pretrained_cfg={"hf_hub_id": "me/x", "colour": 1}),
     r"^pretrained_cfg may set timm's PretrainedCfg fields but not architecture, file, hf_hub_filename, hf_hub_id, "
     r"source, state_dict, tag, url; got colour, hf_hub_id$"),
    (dict(tag="t", pretrained_cfg={"mean": (0.5, 0.5), "std": (0.2, 0.2, 0.2)}),
     r"^pretrained_cfg mean must have one value per input channel \(3\)$"),
    (dict(tag="t", epochs=(3, 2)), r"^epochs must be \(k, n\) with 1 <= k <= n, .*; got \(3, 2\)$"),
    (dict(tag="t", epochs=(0, 2)), r"^epochs must be \(k, n\) with 1 <= k <= n"),
    (dict(tag="t", code=[(1, "abc")]), r"^code must be \(first epoch, commit\) pairs .*; got code=\[\(1, 'abc'\)\], "
                                       r"epochs=None$"),
    (dict(tag="t", epochs=(2, 3), code=[(1, "abc"), (3, "def")]), "code must be"),  # a stretch after epoch k
    (dict(tag="t", epochs=(3, 3), code=[(2, "abc"), (2, "def")]), "code must be"),
    (dict(tag="t", epochs=(3, 3), code=[(0, "abc")]), "code must be"),
    (dict(tag="t", epochs=(3, 3), code=[(1, "")]), "code must be"),
    (dict(tag="t", epochs=(3, 3), code=[]), "code must be"),
    (dict(tag="t", license_text="Copyright (c) 2018, Someone"),
     r"^license_text needs the licence's Hub id too: pretrained_cfg=dict\(license=\.\.\.\) \(--license\)$"),
])
def test_export_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ZooError, match=message):
        export(timm.create_model("cifar_resnet20"), tmp_path / "m", **kwargs)
    assert not (tmp_path / "m").exists()


def test_export_rejects_a_bad_training_log(tmp_path):
    log = write_log(tmp_path / "log.jsonl")
    log.write_text(log.read_text() + '{"epoch": 4, "lr": "high"}\n')
    with pytest.raises(ZooError, match=r"log\.jsonl:4: needs numbers for train_loss, lr, train_top1, "):
        export(timm.create_model("cifar_resnet20"), tmp_path / "m", tag="t", train_log=log)


def test_export_needs_a_resnet_zoo_model(tmp_path):
    with pytest.raises(WeightsError, match="export needs a resnet_zoo model made by timm.create_model, got"):
        export(torch.nn.Linear(2, 2), tmp_path / "m", tag="t")


# ---------------------------------------------------------------------------------------------------------------
# verify failures

def _flip_last_byte(folder: Path) -> None:
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))


def _strip_metadata(folder: Path) -> None:
    file = folder / "model.safetensors"
    old = sha256(file)
    save_file(load_file(file), file)
    card = folder / "README.md"
    card.write_text(card.read_text().replace(old, sha256(file)))


def _edit(name: str, old: str, new: str):
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_text(path.read_text().replace(old, new))
    return apply


def _set_cfg(key: str, value) -> callable:
    def apply(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config["pretrained_cfg"][key] = value
        (folder / "config.json").write_text(json.dumps(config))
    return apply


VERIFY_FAILURES = {
    "checksum": (_flip_last_byte, r"README\.md: SHA-256 does not match for model\.safetensors \(file "),
    "metadata": (_strip_metadata, r"model\.safetensors: header metadata lacks format, architecture, tag, "
                                  r"resnet_zoo_version, git_commit$"),
    "stray file": (lambda f: (f / "notes.txt").write_text("x"), r": holds files a model folder does not: notes\.txt$"),
    "architecture": (_edit("config.json", '"cifar_resnet20"', '"resnet18"'),
                     r"config\.json: architecture 'resnet18' is not a resnet-zoo model; the CIFAR ones: "),
    "config field": (_edit("config.json", '"crop_mode"', '"crop_style"'),
                     r"config\.json: pretrained_cfg needs a tag and only timm's fields; unknown: \['crop_style'\]$"),
    "card library": (_edit("README.md", "library_name: timm", "library_name: other"),
                     r"README\.md: front matter must say library_name: timm, got 'other'$"),
    "card metric": (_edit("README.md", "value: 91.73", "value: 92.0"),
                    r"model\.safetensors: header metrics top1 differ from the model card's$"),
    "other depth": (_edit("config.json", '"cifar_resnet20"', '"cifar_resnet32"'),
                    r"model\.safetensors: header records cifar_resnet20\.rz_cifar10, config\.json "
                    r"cifar_resnet32\.rz_cifar10$"),
    "zero std": (_set_cfg("std", [0, 0, 0]), r"config\.json: pretrained_cfg mean and std must be finite numbers, std "
                                             r"above 0 \(inputs are divided by it\); got std \[0, 0, 0\]$"),
    "negative std": (_set_cfg("std", [0.2, -0.2, 0.2]), r"config\.json: pretrained_cfg mean and std must be finite "
                                                        r"numbers, std above 0 .*; got std \[0\.2, -0\.2, 0\.2\]$"),
    "two means": (_set_cfg("mean", [0.5, 0.5]), r"config\.json: pretrained_cfg mean must have one value per input "
                                               r"channel \(3\)$"),
    "text mean": (_set_cfg("mean", ["a", 0.5, 0.5]), r"config\.json: pretrained_cfg mean and std must be finite "
                                                     r"numbers, .*; got mean \['a', 0\.5, 0\.5\]$"),
}


@pytest.mark.parametrize("case", VERIFY_FAILURES)
def test_verify_fails_with_the_reason(folder, case, capsys):
    damage, message = VERIFY_FAILURES[case]
    damage(folder)
    with pytest.raises(WeightsError, match=message):
        verify(folder)
    assert main(["verify", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo verify: error: ") and err.count("\n") == 1


@pytest.mark.parametrize("command", ["predict", "validate"])
def test_a_folder_with_a_zero_std_is_refused_by_the_commands_that_load_it(folder, tmp_path, capsys, command):
    _set_cfg("std", [0, 0, 0])(folder)
    data = ["--data", str(tmp_path)] if command == "validate" else []
    assert main([command, "--model", "cifar_resnet20", "--checkpoint", str(folder), *data]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo {command}: error: {folder / 'config.json'}: pretrained_cfg mean "
                                       f"and std must be finite numbers, std above 0 (inputs are divided by it); got "
                                       f"std [0, 0, 0]\n")


def test_verify_loads_strictly(tmp_path):
    folder = export(timm.create_model("cifar_resnet20"), tmp_path / "m", tag="t")
    # a config that asks for another head: the weights no longer fit, though checksums and metadata do
    config = json.loads((folder / "config.json").read_text())
    config["num_classes"] = config["pretrained_cfg"]["num_classes"] = 100
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"model\.safetensors \(exported from cifar_resnet20\) does not fit "
                                           r"cifar_resnet20: 2 shape mismatches: fc\.weight \(10, 64\) vs "
                                           r"\(100, 64\) in the model, fc\.bias \(10,\) vs \(100,\) in the model$"):
        verify(folder)


# ---------------------------------------------------------------------------------------------------------------
# commands

def test_export_command_from_a_safetensors_state_dict(tmp_path, capsys):
    model = timm.create_model("cifar_resnet20", shortcut="A").eval()
    save_file(model.state_dict(), tmp_path / "ckpt.safetensors")
    out = tmp_path / "hub" / "cifar_resnet20.rz_cifar10"
    assert main(["export", str(tmp_path / "ckpt.safetensors"), str(out), "--model", "cifar_resnet20",
                 "--tag", "rz_cifar10", "--dataset", "cifar10", "--top1", "91.5", "--top5", "99.6"]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert architecture_options(json.loads((out / "config.json").read_text())["model_args"]) == {"shortcut": "A"}
    assert verify(out)["metrics"] == {"top1": 91.5, "top5": 99.6}
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(timm.create_model(f"local-dir:{out}", pretrained=True).eval()(x), model(x))


def test_export_command_rejects_a_checkpoint_for_another_model(tmp_path, capsys):
    save_file(timm.create_model("cifar_resnet20").state_dict(), tmp_path / "ckpt.safetensors")
    assert main(["export", str(tmp_path / "ckpt.safetensors"), str(tmp_path / "out"), "--model", "zoo_resnet18",
                 "--tag", "t"]) == 1
    assert capsys.readouterr().err.startswith(
        f"resnet-zoo export: error: {tmp_path / 'ckpt.safetensors'} does not fit zoo_resnet18: 30 missing keys: "
        "layer4.0.conv1.weight, ")
    assert not (tmp_path / "out").exists()


def test_export_command_takes_the_ema_weights_of_a_training_checkpoint(tmp_path, capsys):
    """As validate and predict evaluate it: the EMA weights, not 126 missing and 323 unexpected keys."""
    model, ema = timm.create_model("cifar_resnet20"), timm.create_model("cifar_resnet20")
    save_checkpoint(tmp_path / "checkpoint.safetensors", {**add_prefix(MODEL_PREFIX, model.state_dict()),
                                                          **add_prefix(EMA_PREFIX, ema.state_dict())}, dict(epoch=1))
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "checkpoint.safetensors"), str(out), "--model", "cifar_resnet20",
                 "--tag", "rz_cifar10"]) == 0
    exported = load_file(out / "model.safetensors")
    assert exported.keys() == ema.state_dict().keys()
    assert all(torch.equal(exported[k], v) for k, v in ema.state_dict().items())
    assert not torch.equal(exported["fc.weight"], model.state_dict()["fc.weight"])


def test_export_command_gives_a_training_checkpoint_the_normalisation_and_classes_of_its_run(tmp_path, capsys):
    """A CIFAR-100 run's checkpoint exports as the run itself exports it, not with the registered CIFAR-10 cfg."""
    ema = timm.create_model("cifar_resnet20", num_classes=100)
    classes = [f"class{c}" for c in range(100)]
    checkpoint = tmp_path / "checkpoint.safetensors"
    tensors = {**add_prefix(MODEL_PREFIX, ema.state_dict()), **add_prefix(EMA_PREFIX, ema.state_dict())}
    state = dict(epoch=1, recipe=dict(model="cifar_resnet20", dataset="cifar100"), classes=classes)
    save_checkpoint(checkpoint, {k: v.clone() for k, v in tensors.items()}, state)
    out = tmp_path / "out"
    assert main(["export", str(checkpoint), str(out), "--model", "cifar_resnet20", "--tag", "rz_cifar100",
                 "--dataset", "cifar10"]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo export: error: --dataset cifar10: {checkpoint} is a checkpoint "
                                       f"of a run on cifar100\n")
    assert not out.exists()
    assert main(["export", str(checkpoint), str(out), "--model", "cifar_resnet20", "--tag", "rz_cifar100"]) == 0
    cfg = json.loads((out / "config.json").read_text())["pretrained_cfg"]
    assert (cfg["mean"], cfg["std"], cfg["label_names"]) == (list(CIFAR100_MEAN), list(CIFAR100_STD), classes)
    assert verify(out)["metadata"]["dataset"] == "cifar100"


@pytest.mark.parametrize("command", ["export", "convert"])
def test_an_existing_model_folder_is_replaced_only_with_overwrite(folder, tmp_path, capsys, command):
    save_file(timm.create_model("cifar_resnet20").state_dict(), tmp_path / "ckpt.safetensors")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    argv = [command, str(tmp_path / "ckpt.safetensors"), str(folder), "--model", "cifar_resnet20", "--tag", "other"]
    assert main(argv) == 1
    assert capsys.readouterr().err == (f"resnet-zoo {command}: error: {folder} exists; pass --overwrite to replace "
                                       f"it, or choose another folder\n")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert main([*argv, "--overwrite"]) == 0
    assert verify(folder)["tag"] == "other" and verify(folder)["metrics"] == {}
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


@pytest.mark.parametrize("failing", [0, 1], ids=["moving the old folder aside", "moving the new one in"])
def test_a_failed_replacement_keeps_the_old_folder_and_leaves_no_other(folder, monkeypatch, failing):
    """Renaming fails as for a read-only folder (which root may rename, hence the monkeypatch)."""
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    replace, calls = os.replace, []

    def refused(src, dst):
        calls.append(src)
        if len(calls) == failing + 1:
            raise PermissionError(13, "Permission denied", str(src), None, str(dst))
        replace(src, dst)

    monkeypatch.setattr("resnet_zoo.files.os.replace", refused)
    with pytest.raises(PermissionError):
        export(timm.create_model("cifar_resnet20"), folder, tag="rz_cifar10")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_an_export_that_fails_removes_the_parents_it_made(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("resnet_zoo.hub._write_weights", full)
    with pytest.raises(OSError):
        export(timm.create_model("cifar_resnet20"), tmp_path / "a" / "b" / "m", tag="rz_cifar10")
    assert list(tmp_path.iterdir()) == []


def test_verify_command_names_a_weights_file_it_may_not_read(folder, capsys, monkeypatch):
    """Root reads any file, so ``Path.open`` answers as for a user without the right."""
    opening = Path.open

    def denied(self, *args, **kwargs):
        if self.name == "model.safetensors":
            raise PermissionError(13, "Permission denied", str(self))
        return opening(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert main(["verify", str(folder)]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo verify: error: {folder / 'model.safetensors'}: Permission "
                                       f"denied; check the permissions of it and of its folder\n")


def test_verify_command(folder, capsys):
    assert main(["verify", str(folder)]) == 0
    assert capsys.readouterr().out == (
        f"{folder}: OK, cifar_resnet20.rz_cifar10, 272,474 parameters, top1 91.73, top5 99.71, loss 0.2891\n"
        f"  model.safetensors  sha256 {sha256(folder / 'model.safetensors')}\n")


def test_publish_dry_run_lists_the_upload(folder, capsys):
    assert main(["publish", str(folder), "--repo-id", "resnet-zoo/cifar_resnet20.rz_cifar10", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "would upload to resnet-zoo/cifar_resnet20.rz_cifar10 (public), creating it if needed:"
    assert [line.split()[0] for line in lines[1:]] == \
        ["README.md", "config.json", "model.safetensors", "train_log.jsonl", "training_curve.png"]
    assert lines[3].endswith(f"  {(folder / 'model.safetensors').stat().st_size:,} bytes")


def test_publish_needs_metrics_and_the_folder_name(tmp_path, folder):
    with pytest.raises(ZooError, match=r"repo id 'me/other' must be ORG/cifar_resnet20\.rz_cifar10"):
        publish_files(folder, "me/other")
    bare = export(timm.create_model("cifar_resnet20"), tmp_path / "bare", tag="t")
    with pytest.raises(WeightsError, match=r"README\.md: has no top1, top5 metrics; export with metrics$"):
        publish_files(bare, "me/cifar_resnet20.t")


def test_publish_without_a_token_says_how_to_get_one(folder, monkeypatch, capsys):
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(folder.parent / "no-token"))
    assert main(["publish", str(folder), "--repo-id", "resnet-zoo/cifar_resnet20.rz_cifar10"]) == 1
    assert capsys.readouterr().err == (
        "resnet-zoo publish: error: publishing needs a Hugging Face token with write access to "
        "resnet-zoo/cifar_resnet20.rz_cifar10: set HF_TOKEN or run `hf auth login` (--dry-run checks the folder "
        "without one)\n")


def test_publish_that_cannot_reach_the_hub_fails_with_the_reason(folder):
    """Offline (as every machine here is) with a token: one line naming the failure, not a traceback."""
    env = dict(os.environ, HF_TOKEN="hf_not_a_real_token", HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "resnet_zoo.commands.cli", "publish", str(folder), "--repo-id",
                             "resnet-zoo/cifar_resnet20.rz_cifar10"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("resnet-zoo publish: error: upload of ") and "offline mode" in result.stderr
    assert "Traceback" not in result.stderr
