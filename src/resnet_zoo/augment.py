"""Batched CIFAR augmentations that run where the images are (GPU or CPU).

Each function transforms a whole batch with a few tensor operations and no Python loop over images, so
augmenting never makes the accelerator wait on the host. The random parameters (crop offsets, flips, cutout
centres) are inputs, drawn by the caller (`resnet_zoo.cifar.DeviceLoader` draws them once per epoch).
"""
from typing import Sequence

import torch


def crop_flip(
        padded: torch.Tensor,
        index: torch.Tensor,
        size: int,
        offsets: torch.Tensor,
        flip: torch.Tensor,
) -> torch.Tensor:
    """``size`` x ``size`` crops of the padded images ``padded[index]`` at ``offsets``, mirrored where ``flip``.

    The crop and the flip are one gather, so the padded images are read once and nothing else is written.

    Args:
        padded: Padded images ``(N, H + 2p, W + 2p, C)``, channels last (any dtype).
        index: Which images to crop, ``(B,)``.
        size: Side of the crops (the unpadded image side).
        offsets: Top and left corner of each crop in the padded image, ``(B, 2)``.
        flip: Which crops to mirror left to right, ``(B,)`` bool.

    Returns:
        The crops ``(B, size, size, C)``, channels last, in the dtype of ``padded``.
    """
    steps = torch.arange(size, device=padded.device)
    rows = offsets[:, :1] + steps
    cols = offsets[:, 1:] + torch.where(flip[:, None], size - 1 - steps, steps)
    return padded[index[:, None, None], rows[:, :, None], cols[:, None, :]]


def cutout_(images: torch.Tensor, size: int, centres: torch.Tensor) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image in place, around ``centres`` and clipped at the borders.

    Cutout (DeVries & Taylor, 2017); on normalised images zero is the dataset mean.

    Args:
        images: Batch ``(B, C, H, W)``.
        size: Side of the square.
        centres: Row and column of each square's centre, ``(B, 2)``.

    Returns:
        ``images``, with the squares zeroed (its memory format is kept).
    """
    _, _, h, w = images.shape
    top, left = (centres - size // 2).split(1, dim=1)
    rows, cols = torch.arange(h, device=images.device), torch.arange(w, device=images.device)
    in_rows = (rows >= top) & (rows < top + size)
    in_cols = (cols >= left) & (cols < left + size)
    return images.masked_fill_((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0.)


class Normalize:
    """uint8 images, channels last, to the float32 network input ``(x / 255 - mean) / std``.

    Args:
        mean: Per-channel mean, in [0, 1] units.
        std: Per-channel standard deviation, in [0, 1] units.
        device: Device of the images.
        channels_last: Return batches in ``torch.channels_last`` memory format (as the GPU recipe's model),
            else contiguous.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device,
                 channels_last: bool = False):
        self.shift = torch.tensor(mean, device=device).mul(255.).view(1, -1, 1, 1)
        self.scale = torch.tensor(std, device=device).mul(255.).view(1, -1, 1, 1)
        self.channels_last = channels_last

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise a batch ``(B, H, W, C)`` of uint8 pixels into ``(B, C, H, W)`` float32."""
        x = images.permute(0, 3, 1, 2).float()  # NHWC pixels are a channels_last view
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        return x.sub_(self.shift).div_(self.scale)
