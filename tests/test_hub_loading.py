"""Pretrained loading through timm: local folders, an offline Hugging Face cache, RESNET_ZOO_WEIGHTS, overlays,
shards, adaptation, and one clear WeightsError for every kind of bad weights."""
import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

import resnet_zoo  # noqa: F401  (registers the models)
from resnet_zoo.errors import WeightsError
from resnet_zoo.hub import export
from resnet_zoo.weights import WEIGHTS_ENV
from resnet_zoo.resnet import architecture_options

from hf_cache import add_to_hf_cache, load_offline, loaded_file


def random_model(name: str, seed: int, **kwargs) -> torch.nn.Module:
    """``name`` in eval mode with every tensor random (running variances positive), so outputs use them all."""
    model = timm.create_model(name, **kwargs).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return model


def logits(model: torch.nn.Module, size: int = 32) -> torch.Tensor:
    x = torch.randn(2, model.in_chans, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return model.eval()(x)


def export_random(name: str, folder: Path, seed: int = 0, tag: str = "rz_cifar10", **kwargs):
    model = random_model(name, seed)
    return model, export(model, folder / f"{name}.{tag}", tag=tag, **kwargs)


def test_offline_hf_cache_and_weights_folder(tmp_path):
    hub_model, hub_folder = export_random("cifar_resnet20", tmp_path / "hub", seed=1)
    sharded_model = random_model("cifar_resnet32", 2, shortcut="A")
    sharded_folder = export(sharded_model, tmp_path / "hub" / "cifar_resnet32.ak_cifar10", tag="ak_cifar10",
                            max_shard_size="200KB")
    local_model, _ = export_random("cifar_resnet20", tmp_path / "weights", seed=3)
    hf_home = tmp_path / "hf"
    add_to_hf_cache(hf_home, "resnet-zoo/cifar_resnet20.rz_cifar10", hub_folder)
    add_to_hf_cache(hf_home, "resnet-zoo/cifar_resnet32.ak_cifar10", sharded_folder)
    weights = str(tmp_path / "weights")
    loads = [["cifar_resnet20.rz_cifar10", None], ["hf-hub:resnet-zoo/cifar_resnet20.rz_cifar10", None],
             ["cifar_resnet32.ak_cifar10", None], ["hf-hub:resnet-zoo/cifar_resnet32.ak_cifar10", None],
             ["cifar_resnet20.rz_cifar10", weights], ["hf-hub:resnet-zoo/cifar_resnet20.rz_cifar10", weights],
             ["cifar_resnet56.ak_cifar10", None]]
    outputs, errors = load_offline(loads, hf_home, tmp_path / "outputs.safetensors")

    for name in ("cifar_resnet20.rz_cifar10", "hf-hub:resnet-zoo/cifar_resnet20.rz_cifar10"):
        assert torch.equal(outputs[f"{name}|None"], logits(hub_model))
        assert loaded_file(outputs, f"{name}|None").startswith(
            str(hf_home / "hub" / "models--resnet-zoo--cifar_resnet20"))
    for name in ("cifar_resnet32.ak_cifar10", "hf-hub:resnet-zoo/cifar_resnet32.ak_cifar10"):
        assert torch.equal(outputs[f"{name}|None"], logits(sharded_model))
    # the weights folder wins for the registered name, and an explicit hf-hub: name still means the Hub
    assert torch.equal(outputs[f"cifar_resnet20.rz_cifar10|{weights}"], logits(local_model))
    assert loaded_file(outputs, f"cifar_resnet20.rz_cifar10|{weights}") == \
        str(tmp_path / "weights" / "cifar_resnet20.rz_cifar10" / "model.safetensors")
    assert torch.equal(outputs[f"hf-hub:resnet-zoo/cifar_resnet20.rz_cifar10|{weights}"], logits(hub_model))
    assert list(errors) == ["cifar_resnet56.ak_cifar10"]
    assert errors["cifar_resnet56.ak_cifar10"].startswith(
        "pretrained weights for cifar_resnet56: hf-hub:resnet-zoo/cifar_resnet56.ak_cifar10: neither "
        "model.safetensors nor model.safetensors.index.json could be fetched")


@pytest.mark.parametrize("max_shard_size", [None, "100KB"])
def test_local_dir_loads_the_exported_weights(tmp_path, max_shard_size):
    model, folder = export_random("cifar_resnet20", tmp_path, max_shard_size=max_shard_size)
    assert len(list(folder.glob("model*.safetensors"))) == (1 if max_shard_size is None else 10)
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert torch.equal(logits(loaded), logits(model))
    assert loaded.pretrained_cfg["source"] == "local-dir"
    assert "state_dict" not in loaded.pretrained_cfg


def test_model_args_rebuild_shortcut_a_and_global_pool(tmp_path):
    model = random_model("cifar_resnet20", 0, shortcut="A", global_pool="avgmax")
    folder = export(model, tmp_path / "m", tag="rz_cifar10")
    assert architecture_options(json.loads((folder / "config.json").read_text())["model_args"]) == \
        {"shortcut": "A", "global_pool": "avgmax"}
    assert torch.equal(logits(timm.create_model(f"local-dir:{folder}", pretrained=True)), logits(model))


def test_weights_env_takes_precedence_unless_the_caller_names_a_file(tmp_path, monkeypatch):
    env_model, env_folder = export_random("cifar_resnet20", tmp_path / "weights", seed=1)
    own_model, own_folder = export_random("cifar_resnet20", tmp_path / "own", seed=2)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "weights"))
    from_env = timm.create_model("cifar_resnet20.rz_cifar10", pretrained=True)
    assert torch.equal(logits(from_env), logits(env_model))
    assert from_env.pretrained_cfg["file"] == str(env_folder / "model.safetensors")
    assert from_env.pretrained_cfg["hf_hub_id"] == "resnet-zoo/cifar_resnet20.rz_cifar10"
    own = timm.create_model("cifar_resnet20.rz_cifar10", pretrained=True,
                            pretrained_cfg_overlay=dict(file=str(own_folder / "model.safetensors")))
    assert torch.equal(logits(own), logits(own_model))


def test_weights_env_that_is_not_a_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(WeightsError, match=f"^pretrained weights for cifar_resnet20: {WEIGHTS_ENV}=.*nowhere "
                                           f"is not a folder$"):
        timm.create_model("cifar_resnet20.rz_cifar10", pretrained=True)


def test_weights_env_without_the_model_is_an_error_at_once(tmp_path, monkeypatch):
    def download(*args, **kwargs):
        raise AssertionError(f"huggingface_hub downloaded {args} {kwargs}")

    export_random("cifar_resnet20", tmp_path / "weights")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "weights"))
    monkeypatch.setattr("resnet_zoo.weights.hf_hub_download", download)
    with pytest.raises(WeightsError) as error:
        timm.create_model("cifar_resnet44.ak_cifar10", pretrained=True)
    assert str(error.value) == (
        f"pretrained weights for cifar_resnet44: {WEIGHTS_ENV}={tmp_path / 'weights'} has no "
        f"cifar_resnet44.ak_cifar10/; unset {WEIGHTS_ENV} to fetch them from "
        f"hf-hub:resnet-zoo/cifar_resnet44.ak_cifar10")


def test_timm_adapts_num_classes_and_in_chans(tmp_path):
    model, folder = export_random("cifar_resnet20", tmp_path)
    source = model.state_dict()
    five = timm.create_model(f"local-dir:{folder}", pretrained=True, num_classes=5).state_dict()
    assert five["fc.weight"].shape == (5, 64)
    assert all(torch.equal(five[k], v) for k, v in source.items() if not k.startswith("fc."))
    gray = timm.create_model(f"local-dir:{folder}", pretrained=True, in_chans=1).state_dict()
    assert torch.allclose(gray["conv1.weight"], source["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(gray["fc.weight"], source["fc.weight"])


def test_features_only_loads_pretrained(tmp_path):
    model, folder = export_random("cifar_resnet20", tmp_path)
    features = timm.create_model(f"local-dir:{folder}", pretrained=True, features_only=True, out_indices=(1, 2, 3))
    assert torch.equal(features.layer3[0].conv1.weight, model.layer3[0].conv1.weight)
    assert "state_dict" not in features.pretrained_cfg


def test_overlay_file_may_be_a_torch_state_dict(tmp_path):
    model = random_model("cifar_resnet20", 4)
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    loaded = timm.create_model("cifar_resnet20.rz_cifar10", pretrained=True,
                               pretrained_cfg_overlay=dict(file=str(tmp_path / "weights.pth")))
    assert torch.equal(logits(loaded), logits(model))


# ---------------------------------------------------------------------------------------------------------------
# bad weights: one line, naming the file, the architecture and what is wrong

def _truncate(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:len(data) // 2])


def _garble(folder: Path) -> None:
    (folder / "model.safetensors").write_bytes(b"\x00\x01not safetensors at all" * 10)


def _edit_tensors(edit):
    def apply(folder: Path) -> None:
        file = folder / "model.safetensors"
        tensors = load_file(file)
        edit(tensors)
        save_file(tensors, file)
    return apply


def _drop_shard(folder: Path) -> None:
    next(folder.glob("model-00002-of-*.safetensors")).unlink()


CORRUPTIONS = {
    "truncated": (_truncate, None, r"model\.safetensors: not a readable safetensors file, truncated or corrupt"),
    "garbage": (_garble, None, r"model\.safetensors: not a readable safetensors file"),
    "missing key": (_edit_tensors(lambda t: t.pop("layer2.0.bn1.running_var")), None,
                    r"model\.safetensors does not fit cifar_resnet20: 1 missing keys: layer2\.0\.bn1\.running_var$"),
    "unexpected key": (_edit_tensors(lambda t: t.update(extra=torch.zeros(1))), None,
                       r"model\.safetensors does not fit cifar_resnet20: 1 unexpected keys: extra$"),
    "shape": (_edit_tensors(lambda t: t.update({"layer1.0.conv2.weight": torch.zeros(16, 16, 1, 1)})), None,
              r"model\.safetensors does not fit cifar_resnet20: 1 shape mismatches: "
              r"layer1\.0\.conv2\.weight \(16, 16, 1, 1\) vs \(16, 16, 3, 3\) in the model$"),
    "missing shard": (_drop_shard, "100KB", r"model\.safetensors\.index\.json: lists shards that are not there: "
                                            r"model-00002-of-00010\.safetensors$"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_bad_weights_raise_one_line_weights_error(tmp_path, case):
    corrupt, max_shard_size, message = CORRUPTIONS[case]
    _, exported = export_random("cifar_resnet20", tmp_path, max_shard_size=max_shard_size)
    folder = exported.rename(tmp_path / "weights")  # a name that does not say the architecture: the error must
    corrupt(folder)
    with pytest.raises(WeightsError, match=message) as error:
        timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert "\n" not in str(error.value) and str(folder) in str(error.value)
    assert "cifar_resnet20" in str(error.value)


def test_weights_of_another_depth_name_both_architectures(tmp_path):
    _, folder = export_random("cifar_resnet32", tmp_path)
    with pytest.raises(WeightsError) as error:
        timm.create_model("cifar_resnet20.rz_cifar10", pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(folder / "model.safetensors")))
    assert str(error.value) == (
        f"{folder / 'model.safetensors'} (exported from cifar_resnet32) does not fit cifar_resnet20: "
        "72 unexpected keys: layer1.3.bn1.bias, layer1.3.bn1.num_batches_tracked, layer1.3.bn1.running_mean, "
        "layer1.3.bn1.running_var, layer1.3.bn1.weight, layer1.3.bn2.bias, … (66 more)")
