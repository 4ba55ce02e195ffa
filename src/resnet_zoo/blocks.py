"""Building blocks shared by both ResNet families: residual blocks, shortcuts and the stage builder.

Module and parameter names follow torchvision (``conv1``/``bn1``/…, ``downsample.0``/``downsample.1``) so
that torchvision and timm ResNet checkpoints load without renaming.
"""
from typing import List, Optional, Sequence, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, register_notrace_function

DeviceLike = Optional[Union[str, torch.device]]
"""Where parameters are created (``None``: the default device), as in ``torch.nn`` layers."""

SHORTCUTS = {"A": "zero-padded identity, no parameters", "B": "1x1 conv + BN projection"}
"""Valid shortcut types and what each does to the identity where a stage changes its shape."""


def conv3x3(
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        device: DeviceLike = None,
        dtype: Optional[torch.dtype] = None,
) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False, device=device, dtype=dtype)


def conv1x1(
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        device: DeviceLike = None,
        dtype: Optional[torch.dtype] = None,
) -> nn.Conv2d:
    """1x1 convolution with no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False, device=device, dtype=dtype)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34 and all CIFAR ResNets).

    Args:
        inplanes: Input channels.
        planes: Channels of both convolutions (``expansion`` is 1, so also the output channels).
        stride: Stride of the first convolution.
        downsample: Shortcut module applied to the input when its shape differs from the output's.
        drop_path: Stochastic depth of the residual branch (timm's ``DropPath``), ``None`` for none.
        device: Device of the parameters.
        dtype: Dtype of the parameters.
    """

    expansion = 1

    def __init__(
            self,
            inplanes: int,
            planes: int,
            stride: int = 1,
            downsample: Optional[nn.Module] = None,
            *,
            drop_path: Optional[nn.Module] = None,
            device: DeviceLike = None,
            dtype: Optional[torch.dtype] = None,
    ):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        self.conv1 = conv3x3(inplanes, planes, stride, **dd)
        self.bn1 = nn.BatchNorm2d(planes, **dd)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, **dd)
        self.bn2 = nn.BatchNorm2d(planes, **dd)
        self.drop_path = drop_path if drop_path is not None else nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Zero the last BN scale so that the block starts as the identity."""
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act2(self.drop_path(x) + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as torchvision's "ResNet v1.5"), 1x1 expand (ResNet-50/101/152).

    Args:
        inplanes: Input channels.
        planes: Channels of the 1x1 and 3x3 convolutions; the block outputs ``planes * expansion``.
        stride: Stride of the 3x3 convolution.
        downsample: Shortcut module applied to the input when its shape differs from the output's.
        drop_path: Stochastic depth of the residual branch (timm's ``DropPath``), ``None`` for none.
        device: Device of the parameters.
        dtype: Dtype of the parameters.
    """

    expansion = 4

    def __init__(
            self,
            inplanes: int,
            planes: int,
            stride: int = 1,
            downsample: Optional[nn.Module] = None,
            *,
            drop_path: Optional[nn.Module] = None,
            device: DeviceLike = None,
            dtype: Optional[torch.dtype] = None,
    ):
        super().__init__()
        dd = dict(device=device, dtype=dtype)
        out_chs = planes * self.expansion
        self.conv1 = conv1x1(inplanes, planes, **dd)
        self.bn1 = nn.BatchNorm2d(planes, **dd)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, stride, **dd)
        self.bn2 = nn.BatchNorm2d(planes, **dd)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = conv1x1(planes, out_chs, **dd)
        self.bn3 = nn.BatchNorm2d(out_chs, **dd)
        self.drop_path = drop_path if drop_path is not None else nn.Identity()
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        """Zero the last BN scale so that the block starts as the identity."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act3(self.drop_path(x) + shortcut)


Block = Union[Type[BasicBlock], Type[Bottleneck]]


class PadShortcut(nn.Module):
    """Parameter-free shortcut "A" (He et al. 2016, §4.2): subsample, then zero-pad the new channels.

    The identity is subsampled with ``x[:, :, ::stride, ::stride]`` and the extra output channels are split
    equally between both sides of the channel dimension (``planes // 4`` each side when the width doubles),
    as in the widely used reproduction of the paper's CIFAR models.

    Args:
        in_chs: Input channels.
        out_chs: Output channels (``>= in_chs``).
        stride: Spatial subsampling factor.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__()
        if out_chs < in_chs:
            raise ValueError(f"shortcut A cannot reduce channels ({in_chs} -> {out_chs}); use shortcut 'B'")
        self.stride = stride
        self.pad_front = (out_chs - in_chs) // 2
        self.pad_back = out_chs - in_chs - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, [0, 0, 0, 0, self.pad_front, self.pad_back])

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.pad_front}, {self.pad_back})"


def make_shortcut(
        shortcut: str,
        in_chs: int,
        out_chs: int,
        stride: int,
        device: DeviceLike = None,
        dtype: Optional[torch.dtype] = None,
) -> Optional[nn.Module]:
    """Shortcut for a block whose input is ``in_chs`` channels and output ``out_chs`` at ``stride``.

    Returns ``None`` (identity) when the shape does not change, else the shortcut of type ``shortcut``.

    Raises:
        ValueError: If ``shortcut`` is not one of `SHORTCUTS`, naming the valid ones.
    """
    if shortcut not in SHORTCUTS:
        valid = " or ".join(f"{name!r} ({what})" for name, what in SHORTCUTS.items())
        raise ValueError(f"unknown shortcut type {shortcut!r}; valid: {valid}")
    if stride == 1 and in_chs == out_chs:
        return None
    if shortcut == "A":
        return PadShortcut(in_chs, out_chs, stride)
    return nn.Sequential(
        conv1x1(in_chs, out_chs, stride, device=device, dtype=dtype),
        nn.BatchNorm2d(out_chs, device=device, dtype=dtype),
    )


def make_stage(
        block: Block,
        in_chs: int,
        planes: int,
        depth: int,
        stride: int,
        shortcut: str = "B",
        drop_path_rates: Sequence[float] = (),
        device: DeviceLike = None,
        dtype: Optional[torch.dtype] = None,
) -> nn.Sequential:
    """A stage of ``depth`` blocks; the first one carries the stride and the shortcut.

    Args:
        block: Block class (`BasicBlock` or `Bottleneck`).
        in_chs: Channels entering the stage.
        planes: ``planes`` of every block; the stage outputs ``planes * block.expansion`` channels.
        depth: Number of blocks.
        stride: Stride of the first block.
        shortcut: Shortcut type of the first block, ``"A"`` or ``"B"`` (used only when the shape changes).
        drop_path_rates: Stochastic depth rate of each block (empty: none).

    Returns:
        The stage as an ``nn.Sequential`` whose children are named ``0``, ``1``, …
    """
    dd = dict(device=device, dtype=dtype)
    rates: List[float] = list(drop_path_rates) or [0.] * depth
    out_chs = planes * block.expansion
    first = block(in_chs, planes, stride, make_shortcut(shortcut, in_chs, out_chs, stride, **dd),
                  drop_path=_drop_path(rates[0]), **dd)
    return nn.Sequential(first, *(block(out_chs, planes, drop_path=_drop_path(rate), **dd) for rate in rates[1:]))


def _drop_path(rate: float) -> Optional[nn.Module]:
    """The stochastic depth of a block at ``rate``: timm's ``DropPath``, or ``None`` at 0."""
    return DropPath(rate) if rate > 0. else None


@register_notrace_function
def check_input(x: torch.Tensor, in_chans: int) -> None:
    """Raise ``ValueError`` naming the expected shape unless ``x`` is a batch ``(N, in_chans, H, W)``."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"expected input of shape (N, {in_chans}, H, W), got {list(x.shape)}")
