"""resnet-zoo: paper-exact ResNets for timm, with weights trained by this project.

``import resnet_zoo`` registers ``cifar_resnet20/32/44/56/110/1202`` and ``zoo_resnet18/34/50/101/152`` in
timm's model registry (at once when timm is already imported, else the moment it is); create them with
``timm.create_model``. The package itself imports neither torch nor timm: its names below load their modules on
first use, so that ``resnet-zoo --help`` and ``import resnet_zoo`` cost milliseconds.
"""
import importlib
import sys
from typing import TYPE_CHECKING, Any, List

import resnet_zoo_autoload

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and the API docs
    from .blocks import BasicBlock, Bottleneck, PadShortcut, make_shortcut, make_stage
    from .fuse import fuse_bn
    from .resnet import ResNet

__version__ = "0.1.0"

_LAZY = {"BasicBlock": "blocks", "Bottleneck": "blocks", "PadShortcut": "blocks", "make_shortcut": "blocks",
         "make_stage": "blocks", "ResNet": "resnet", "fuse_bn": "fuse"}
"""Public name -> submodule that defines it, imported when the name is first used."""

__all__ = ["BasicBlock", "Bottleneck", "PadShortcut", "ResNet", "fuse_bn", "make_shortcut", "make_stage",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_LAZY})


if resnet_zoo_autoload.TRIGGER in sys.modules:
    importlib.import_module(".resnet", __name__)  # registers the models
else:
    resnet_zoo_autoload.install(force=True)  # registers them when timm is imported
