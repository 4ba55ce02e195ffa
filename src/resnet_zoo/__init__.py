"""resnet-zoo: paper-exact ResNets for timm, with weights trained by this project.

``import resnet_zoo`` registers ``cifar_resnet20/32/44/56/110/1202`` and ``zoo_resnet18/34/50/101/152`` in
timm's model registry; create them with ``timm.create_model``.
"""
from .blocks import BasicBlock, Bottleneck, PadShortcut, make_shortcut, make_stage
from .resnet import ResNet
from .fuse import fuse_bn

__version__ = "0.1.0"

__all__ = ["BasicBlock", "Bottleneck", "PadShortcut", "ResNet", "fuse_bn", "make_shortcut", "make_stage",
           "__version__"]
