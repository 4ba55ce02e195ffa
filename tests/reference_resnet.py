"""The reference CIFAR ResNet: independent of resnet_zoo, written as the widely used reproduction of He et al.
(2016) §4.2, akamaster/pytorch_resnet_cifar10's ``resnet.py``, with its module and parameter names.

Tests check the zoo's models against it and convert its state dicts; benchmarks time the zoo against it
(``benchmarks/conftest.py`` puts this folder on ``sys.path``).
"""
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


class LambdaLayer(nn.Module):
    """The reproduction's parameter-free module: applies ``fn``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; where the shape changes, shortcut A subsamples and zero-pads ``planes // 4`` channels
    on each side, B projects with a 1x1 conv + BN (``shortcut.0``, ``shortcut.1``)."""

    def __init__(self, in_planes: int, planes: int, stride: int, option: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == "A":
                self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))
            elif option == "B":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            else:
                raise ValueError(f"option must be 'A' or 'B', got {option!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2): ``conv1``/``bn1``, ``layer1..3`` of ``n`` blocks at 16/32/64 channels, ``linear``.

    Args:
        n: Blocks per stage; 9 is ResNet-56.
        option: Shortcut ``"A"`` (the reproduction's and the paper's CIFAR choice) or ``"B"`` (the zoo's default).
        num_classes: Outputs of ``linear``.
    """

    def __init__(self, n: int = 9, option: str = "B", num_classes: int = 10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1, option)
        self.layer2 = self._make_layer(32, n, 2, option)
        self.layer3 = self._make_layer(64, n, 2, option)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes: int, n: int, stride: int, option: str) -> nn.Sequential:
        blocks = []
        for block_stride in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, block_stride, option))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.flatten(1))
