"""Pretrained configurations: where the weights live on the Hub and how their inputs are preprocessed (with
ImageNet's statistics from ``timm.data.constants``, CIFAR's from `resnet_zoo.cifar_constants`)."""
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .cifar_constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from .constants import RECIPE_TAG_PREFIX

HF_HUB_ORG = "resnet-zoo"
"""Hugging Face Hub organisation that hosts every resnet_zoo weight repo (``HF_HUB_ORG/<model>.<tag>``)."""

CIFAR10_TAG = f"{RECIPE_TAG_PREFIX}cifar10"
"""Tag of the CIFAR-10 weights trained by this project's recipe."""
AKAMASTER_CIFAR10_TAG = "ak_cifar10"
"""Tag of the CIFAR-10 weights published by akamaster/pytorch_resnet_cifar10 (shortcut A), converted."""

PAPER_ID = "arXiv:1512.03385"
"""He et al., Deep Residual Learning for Image Recognition (CVPR 2016)."""


def weights_name(model_name: str, tag: str) -> str:
    """``MODEL.TAG``: the name of the weights ``tag`` of a model, of their model folder and of their Hub repo."""
    return f"{model_name}.{tag}"


def hub_id(model_name: str, tag: str) -> str:
    """Full Hub repo id of the weights ``model_name.tag``."""
    return f"{HF_HUB_ORG}/{weights_name(model_name, tag)}"


def _cfg(family: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
    """Fields shared by every resnet_zoo pretrained cfg, updated with the ``family``'s, then with ``kwargs``."""
    return {
        "interpolation": "bilinear", "first_conv": "conv1", "classifier": "fc",
        "license": "apache-2.0", "paper_ids": PAPER_ID,
        **family, **kwargs,
    }


def imagenet_cfg(**kwargs: Any) -> Dict[str, Any]:
    """Pretrained cfg of an ImageNet-style model (224x224, ImageNet mean/std, 7x7 pool), updated with ``kwargs``."""
    return _cfg(dict(num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.875,
                     mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD), **kwargs)


def cifar_cfg(**kwargs: Any) -> Dict[str, Any]:
    """Pretrained cfg of a CIFAR-10 model (32x32, CIFAR-10 mean/std, 8x8 pool, no crop), updated with ``kwargs``."""
    return _cfg(dict(num_classes=10, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
                     mean=CIFAR10_MEAN, std=CIFAR10_STD, label_names=CIFAR10_CLASSES), **kwargs)


@dataclass(frozen=True)
class WeightsTag:
    """What all weights of one tag share, whatever the depth.

    Attributes:
        cfg: Pretrained cfg fields that differ from the architecture family's (`cifar_cfg`, `imagenet_cfg`):
            the input normalisation the weights were trained with, their licence and origin.
        model_args: Constructor arguments the weights need (the architecture they were trained with); a tag
            builds that architecture, and an untagged model keeps the defaults.
    """

    cfg: Mapping[str, Any] = field(default_factory=dict)
    model_args: Mapping[str, Any] = field(default_factory=dict)


TAGS = {
    CIFAR10_TAG: WeightsTag(),
    AKAMASTER_CIFAR10_TAG: WeightsTag(
        cfg=dict(mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, license="bsd-2-clause",
                 origin_url="https://github.com/akamaster/pytorch_resnet_cifar10"),
        model_args=dict(shortcut="A")),
}
"""The tags of the registered weights; see `resnet_zoo.resnet.PRETRAINED` for which models have them."""


def tag_model_args(tag: str) -> Dict[str, Any]:
    """Constructor arguments the weights ``tag`` need (``{}`` for an unknown tag or none)."""
    return dict(TAGS[tag].model_args) if tag in TAGS else {}
