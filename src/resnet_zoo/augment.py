"""Batched CIFAR augmentations that run where the images are (GPU or CPU), drawing from one generator.

Each function transforms a whole batch with a few tensor operations and no Python loop over images, so
augmenting never makes the accelerator wait on the host.
"""
from typing import Optional, Sequence

import torch


def crop_flip(
        padded: torch.Tensor,
        index: torch.Tensor,
        size: int,
        generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Random ``size`` x ``size`` crops of the padded images ``padded[index]``, each mirrored with probability 1/2.

    The crop and the flip are one gather, so the padded images are read once and nothing else is written.

    Args:
        padded: Padded images ``(N, H + 2p, W + 2p, C)``, channels last (any dtype).
        index: Which images to crop, ``(B,)``.
        size: Side of the crops (the unpadded image side).
        generator: Source of the crop offsets and flips.

    Returns:
        The crops ``(B, size, size, C)``, channels last, in the dtype of ``padded``.
    """
    n, device = index.numel(), padded.device
    offsets = torch.randint(0, padded.shape[1] - size + 1, (2, n, 1), device=device, generator=generator)
    flip = torch.rand(n, 1, device=device, generator=generator) < 0.5
    steps = torch.arange(size, device=device)
    rows = offsets[0] + steps
    cols = offsets[1] + torch.where(flip, size - 1 - steps, steps)
    return padded[index[:, None, None], rows[:, :, None], cols[:, None, :]]


def cutout_(images: torch.Tensor, size: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image in place, centred anywhere and clipped at the borders.

    Cutout (DeVries & Taylor, 2017); on normalised images zero is the dataset mean.

    Args:
        images: Batch ``(B, C, H, W)``.
        size: Side of the square.
        generator: Source of the square centres.

    Returns:
        ``images``, with the squares zeroed (its memory format is kept).
    """
    n, _, h, w = images.shape
    device = images.device
    top = torch.randint(0, h, (n, 1), device=device, generator=generator) - size // 2
    left = torch.randint(0, w, (n, 1), device=device, generator=generator) - size // 2
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
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
        x = images.permute(0, 3, 1, 2).float()  # a channels_last view of the NHWC pixels
        if not self.channels_last:
            x = x.contiguous()
        return x.sub_(self.shift).div_(self.scale)
