"""Inference fast path: fold each BatchNorm into the convolution that feeds it.

In eval mode a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` equals a single convolution with a
rescaled weight and a bias. `fuse_bn` rewrites a model that way and keeps every module name (``conv1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, …): the BatchNorms become ``nn.Identity``, so ``forward``,
``forward_intermediates`` and name-based feature extraction work on the fused model unchanged.
"""
import copy
from typing import Dict, List, Tuple, Type, TypeVar

import torch.nn as nn
from timm.models import FeatureDictNet
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .blocks import BasicBlock, Bottleneck
from .resnet import ResNet

__all__ = ["fuse_bn"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

BATCH_NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)
"""BatchNorm types that `fuse_bn` folds."""

CONV_BN_PAIRS: Dict[Type[nn.Module], Tuple[Tuple[str, str], ...]] = {
    ResNet: (("conv1", "bn1"),),
    BasicBlock: (("conv1", "bn1"), ("conv2", "bn2")),
    Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
}
"""Children ``(conv, bn)`` of each resnet_zoo module type whose ``forward`` applies ``bn`` to ``conv``'s output."""

IN_ORDER_CONTAINERS = (nn.Sequential, FeatureDictNet)
"""Containers that apply their children one after the other (shortcut B projections, timm ``features_only``)."""

Pair = Tuple[nn.Module, str, str]
"""``(parent, conv child name, bn child name)``."""


def _named_pairs(module: nn.Module) -> List[Tuple[str, str]]:
    """Names of the children of ``module`` where the second one is applied to the first one's output."""
    if isinstance(module, IN_ORDER_CONTAINERS):
        names = [name for name, _ in module.named_children()]
        return list(zip(names, names[1:]))
    for module_type, pairs in CONV_BN_PAIRS.items():
        if isinstance(module, module_type):
            return list(pairs)
    return []


def _conv_bn_pairs(model: nn.Module) -> List[Pair]:
    """Every ``(parent, conv, bn)`` in ``model`` where a ``Conv2d`` feeds a BatchNorm and nothing else."""
    found = []
    for parent in model.modules():
        for conv_name, bn_name in _named_pairs(parent):
            conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, BATCH_NORMS):
                found.append((parent, conv_name, bn_name))
    return found


def fuse_bn(model: ModuleT) -> ModuleT:
    """Return an inference copy of ``model`` with every BatchNorm folded into the convolution before it.

    The copy computes the same outputs as ``model`` in eval mode (up to float rounding) with fewer operations:
    each ``conv -> bn`` becomes one convolution with a bias, and the BatchNorm is replaced by ``nn.Identity``
    under the same name. ``model`` itself is not changed. The copy is for inference only: it has no
    BatchNorm left, so training it would not train the original architecture.

    Works on resnet_zoo's `ResNet` (both families, shortcut ``"A"`` or ``"B"``), on its blocks and on the
    ``features_only`` wrapper timm builds around it. Fusing a fused model returns an equal copy.

    Args:
        model: A model in eval mode (``model.eval()``).

    Returns:
        The fused copy, in eval mode, of the same type as ``model``.

    Raises:
        ValueError: If any module of ``model`` is in training mode (the BatchNorm statistics would still
            change), or if a BatchNorm does not directly follow a convolution that `fuse_bn` knows of.
    """
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ValueError(f"fuse_bn folds BatchNorm running statistics, so it needs a model in eval mode; "
                         f"call model.eval() first ({training[0]} is in training mode)")
    fused = copy.deepcopy(model)
    pairs = _conv_bn_pairs(fused)
    folded = {getattr(parent, bn_name) for parent, _, bn_name in pairs}
    unfoldable = [name for name, m in fused.named_modules() if isinstance(m, BATCH_NORMS) and m not in folded]
    if unfoldable:
        raise ValueError(f"cannot fold BatchNorm {', '.join(unfoldable)}: fuse_bn folds only a BatchNorm that "
                         f"directly follows a Conv2d in resnet_zoo's ResNet, its blocks or an nn.Sequential")
    for parent, conv_name, bn_name in pairs:
        setattr(parent, conv_name, fuse_conv_bn_eval(getattr(parent, conv_name), getattr(parent, bn_name)))
        setattr(parent, bn_name, nn.Identity())
    return fused.eval()  # eval() also reaches the new nn.Identity modules
