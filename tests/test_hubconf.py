"""hubconf.py: ``torch.hub.load`` serves every zoo model, built and loaded as ``timm.create_model`` does."""
import importlib.util
from pathlib import Path

import pytest
import timm
import torch

from resnet_zoo.resnet import MODELS
from resnet_zoo.weights import WEIGHTS_ENV

ROOT = Path(__file__).resolve().parents[1]


def hub_load(name: str, **kwargs) -> torch.nn.Module:
    return torch.hub.load(str(ROOT), name, source="local", **kwargs)


def test_hubconf_offers_exactly_the_zoo_models():
    """What ``torch.hub.list`` lists (it takes GitHub repos only): hubconf's public callables."""
    spec = importlib.util.spec_from_file_location("hubconf_under_test", ROOT / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    listed = [name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")]
    assert sorted(listed) == sorted(MODELS)


def test_torch_hub_builds_the_timm_model_with_its_options():
    torch.manual_seed(0)
    model = hub_load("cifar_resnet56", num_classes=100, shortcut="A")
    torch.manual_seed(0)
    expected = timm.create_model("cifar_resnet56", num_classes=100, shortcut="A")
    assert type(model) is type(expected) and model.fc.out_features == 100
    assert model.state_dict().keys() == expected.state_dict().keys()
    assert all(torch.equal(v, expected.state_dict()[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name, tag, timm_name", [
    ("cifar_resnet20", None, "cifar_resnet20"),  # the default weights
    ("cifar_resnet56", "ak_cifar10", "cifar_resnet56.ak_cifar10"),  # a tag, with the architecture it needs
])
def test_torch_hub_pretrained_loads_the_weights_timm_loads(monkeypatch, name, tag, timm_name):
    monkeypatch.setenv(WEIGHTS_ENV, str(ROOT / "hub"))
    model = hub_load(name, pretrained=True, tag=tag)
    expected = timm.create_model(timm_name, pretrained=True)
    assert model.pretrained_cfg["tag"] == expected.pretrained_cfg["tag"]
    assert model.state_dict().keys() == expected.state_dict().keys()
    assert all(torch.equal(v, expected.state_dict()[k]) for k, v in model.state_dict().items())
    assert not torch.equal(model.fc.weight, timm.create_model(timm_name).fc.weight)
