"""Pretrained configurations: where the weights live on the Hub and how their inputs are preprocessed."""
from typing import Any, Dict

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

HF_HUB_ORG = "resnet-zoo"
"""Hugging Face Hub organisation that hosts every resnet_zoo weight repo (``HF_HUB_ORG/<model>.<tag>``)."""

CIFAR10_TAG = "rz_cifar10"
"""Tag of the CIFAR-10 weights trained by this project's recipe."""

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the CIFAR-10 train images, in [0, 1] units."""
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the CIFAR-10 train images, in [0, 1] units."""
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

PAPER_ID = "arXiv:1512.03385"
"""He et al., Deep Residual Learning for Image Recognition (CVPR 2016)."""


def hub_id(model_name: str, tag: str) -> str:
    """Full Hub repo id of the weights ``model_name.tag``."""
    return f"{HF_HUB_ORG}/{model_name}.{tag}"


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    """Fields shared by every resnet_zoo pretrained cfg, updated with ``kwargs``."""
    return {
        "interpolation": "bilinear", "first_conv": "conv1", "classifier": "fc",
        "license": "apache-2.0", "paper_ids": PAPER_ID,
        **kwargs,
    }


def imagenet_cfg(**kwargs: Any) -> Dict[str, Any]:
    """Pretrained cfg of an ImageNet-style model (224x224, ImageNet mean/std, 7x7 pool)."""
    return _cfg(num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.875,
                mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, **kwargs)


def cifar_cfg(**kwargs: Any) -> Dict[str, Any]:
    """Pretrained cfg of a CIFAR-10 model (32x32, CIFAR-10 mean/std, 8x8 pool, no crop)."""
    return _cfg(num_classes=10, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
                mean=CIFAR10_MEAN, std=CIFAR10_STD, label_names=CIFAR10_CLASSES, **kwargs)
