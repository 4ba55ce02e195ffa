"""resnet-zoo: paper-exact ResNets for timm, with weights trained by this project.

``import resnet_zoo`` registers ``cifar_resnet20/32/44/56/110/1202`` and ``zoo_resnet18/34/50/101/152`` in
timm's model registry, at once if timm is imported, else as soon as it is (`resnet_zoo_autoload` says exactly
when); create them with ``timm.create_model``. The package itself imports neither torch nor timm, so that
``resnet-zoo --help`` answers at once: its public names (`ResNet`, `fuse_bn`, ...) import their module on
first use.
"""
import importlib
from typing import TYPE_CHECKING, Any, List

import resnet_zoo_autoload

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers
    from .blocks import BasicBlock, Bottleneck, PadShortcut, make_shortcut, make_stage
    from .fuse import fuse_bn
    from .resnet import ResNet

__version__ = "0.1.0"

__all__ = ["BasicBlock", "Bottleneck", "PadShortcut", "ResNet", "fuse_bn", "make_shortcut", "make_stage",
           "__version__"]

_LAZY = {"BasicBlock": "blocks", "Bottleneck": "blocks", "PadShortcut": "blocks", "make_shortcut": "blocks",
         "make_stage": "blocks", "ResNet": "resnet", "fuse_bn": "fuse"}
"""Public name -> module that defines it, imported when the name is first used."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_LAZY})


resnet_zoo_autoload.request()
