"""Starting a run from trained weights (``resnet-zoo train --init``): of the same architecture (a new cycle), or of
a shallower CIFAR ResNet, grown to the run's depth by copying its blocks.

Growing follows Chang et al., *Multi-level Residual Networks from Dynamical Systems View* (ICLR 2018). A residual
stage is an ODE solved in steps, ``x + h F(x)``; with ``k`` times the blocks the step is ``h / k``. So each block
of the source becomes ``k`` consecutive copies whose residual branch is scaled by ``1 / k`` (the weight and bias of
its last BatchNorm), which together approximate the source block's step. The first block of a stage changes its
resolution and width and cannot repeat: it is kept once as it is, and the ``k - 1`` blocks that the stage then
lacks end it as identity blocks (last BatchNorm zero, so that they add nothing until they train). The grown model
computes nearly what its source did (its test top-1 before training is recorded), and trains from there.

Chang et al.'s rule is preferred to LipGrow's (Dong et al., ICML 2020: duplicate, scale the residual branches by
``1 / sqrt(2)``): halving the step keeps the sum of the copies' steps equal to the source's, so the grown model
starts closest to the source's function, while ``1 / sqrt(2)`` keeps only the variance of random branches.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

import timm
import torch
import torch.nn as nn

from .errors import ZooError
from .pretrained import weights_name
from .resnet import CIFAR_DEPTHS, is_zoo_model
from .run_state import is_hub_id
from .weights import read_metadata

BLOCK_KEY = re.compile(r"(?P<stage>layer\d+)\.(?P<block>\d+)\.(?P<rest>.+)")
"""A state-dict key inside a residual block: ``layer2.3.bn2.weight``."""
LAST_BN = ("bn2.weight", "bn2.bias")
"""The parameters that scale a BasicBlock's residual branch: its last BatchNorm's."""


@dataclass(frozen=True)
class InitialWeights:
    """Weights a run starts from, and where they come from.

    Attributes:
        state_dict: The weights, for the run's model.
        source: The weights named as ``--init`` named them.
        name: Their ``model.tag``.
        commit: The resnet_zoo commit that wrote them (``"unknown"`` where their file does not say).
        grown: ``(blocks per stage of the source, of the run)`` when they were grown, else ``None``.
    """

    state_dict: Dict[str, torch.Tensor]
    source: str
    name: str
    commit: str
    grown: Optional[tuple] = None

    def describe(self) -> str:
        """One line for the card, the registered name first: ``cifar_resnet56.rz_cifar10 (hub/cifar_resnet56.rz_cifar10,
        commit 3059834…), grown from 9 to 18 blocks…``."""
        grown = f", grown from {self.grown[0]} to {self.grown[1]} blocks per stage (Chang et al. 2018)" \
            if self.grown else ""
        return f"{self.name} ({self.source}, commit {self.commit[:12]}){grown}"


def load_source(source: str, option: str = "--init") -> nn.Module:
    """The model that ``option`` (``--init``, ``--teacher``) names: registered weights (``cifar_resnet56.rz_cifar10``),
    a model folder, or a Hub repo (``hf-hub:ORG/NAME``).

    Raises:
        ZooError: If it names none of these.
    """
    if is_hub_id(source):
        return timm.create_model(source, pretrained=True)
    if Path(source).is_dir():
        return timm.create_model(f"local-dir:{source}", pretrained=True)
    if "." in source and is_zoo_model(source) and source in timm.list_pretrained(source):
        return timm.create_model(source, pretrained=True)
    raise ZooError(f"{option} {source}: give registered weights (e.g. cifar_resnet56.rz_cifar10), a model folder or "
                   f"hf-hub:ORG/NAME")


def source_commit(model: nn.Module) -> str:
    """The resnet_zoo commit that wrote the weights `load_source` loaded (``"unknown"`` where their file does not
    say)."""
    file = model.pretrained_cfg.get("file")
    return read_metadata(file).get("git_commit", "unknown") if file and str(file).endswith(".safetensors") \
        else "unknown"


def initial_weights(source: str, model: nn.Module) -> InitialWeights:
    """The weights ``model`` starts from: those of ``source`` (see `load_source`), grown to its depth if ``source``
    is a shallower CIFAR ResNet whose blocks per stage divide ``model``'s.

    Raises:
        ZooError: If the source is of another family, shortcut, class count, or of a depth that does not divide.
    """
    loaded = load_source(source)
    cfg, target = loaded.pretrained_cfg, model.pretrained_cfg["architecture"]
    architecture = cfg["architecture"]
    name = weights_name(architecture, cfg.get("tag"))
    commit = source_commit(loaded)
    problems = []
    if loaded.num_classes != model.num_classes:
        problems.append(f"{loaded.num_classes} classes, the run {model.num_classes}")
    if getattr(loaded, "shortcut", None) != model.shortcut:
        problems.append(f"shortcut {loaded.shortcut}, the run {model.shortcut}")
    if architecture == target and not problems:
        return InitialWeights(loaded.state_dict(), source, name, commit)
    depths = {f"cifar_resnet{d}": n for d, n in CIFAR_DEPTHS.items()}
    if architecture not in depths or target not in depths:
        problems.append(f"a {architecture}; weights grow only from a shallower CIFAR ResNet into a deeper one")
    elif depths[target] % depths[architecture] or depths[target] <= depths[architecture]:
        problems.append(f"{depths[architecture]} blocks per stage, which do not divide the run's "
                        f"{depths[target]} ({target})")
    if problems:
        raise ZooError(f"--init {source}: {name} cannot start {target}: it has {'; '.join(problems)}")
    blocks = (depths[architecture], depths[target])
    return InitialWeights(grow_state_dict(loaded.state_dict(), *blocks), source, name, commit, blocks)


def grow_state_dict(source: Mapping[str, torch.Tensor], blocks: int, target_blocks: int) -> Dict[str, torch.Tensor]:
    """The state dict of a CIFAR ResNet with ``target_blocks`` blocks per stage, grown from ``source``'s ``blocks``
    (which divide it) as the module docstring says."""
    k = target_blocks // blocks
    grown: Dict[str, torch.Tensor] = {}
    for key, value in source.items():
        match = BLOCK_KEY.fullmatch(key)
        if match is None:
            grown[key] = value.clone()
            continue
        stage, block, rest = match["stage"], int(match["block"]), match["rest"]
        if block == 0:  # changes resolution and width: once, as it is
            grown[key] = value.clone()
            continue
        for copy in range(k):
            grown[f"{stage}.{(block - 1) * k + 1 + copy}.{rest}"] = value / k if rest in LAST_BN else value.clone()
        if block == blocks - 1:  # the stage's last block also gives the weights of its identity blocks
            for extra in range((blocks - 1) * k + 1, target_blocks):
                grown[f"{stage}.{extra}.{rest}"] = torch.zeros_like(value) if rest in LAST_BN else value.clone()
    return grown
