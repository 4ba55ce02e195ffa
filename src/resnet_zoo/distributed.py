"""The process group of a run started by ``torchrun``, and the few collectives training needs.

``torchrun`` tells each process its place through environment variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). `init_process_group` reads them and joins the group: NCCL
when the processes train on CUDA (one GPU each, ``cuda:LOCAL_RANK``), gloo on the CPU. A process that
``torchrun`` did not start (or started alone) is a group of one, and every collective here is then a no-op.

Batches are global: a batch of ``B`` images is split in order across the ``N`` processes, process ``r``
taking positions ``r * B / N`` to ``(r + 1) * B / N`` (`rank_slice`). The order and the augmentations are
drawn per epoch for the whole dataset from one generator that every process advances alike, so the images a
step trains on do not depend on ``N``, and a run can resume with a different number of processes.
"""
import math
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn

from .errors import ZooError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the run.

    Attributes:
        rank: Index of the process among all of the run's processes, from 0.
        world_size: Number of processes.
        local_rank: Index of the process on its machine (its GPU under ``torchrun``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that prints, logs, checkpoints and exports."""
        return self.rank == 0

    def local_batch_size(self, batch_size: int) -> int:
        """This process's share of a global batch of ``batch_size`` images.

        Raises:
            ZooError: If ``batch_size`` is not a multiple of the number of processes.
        """
        if batch_size % self.world_size:
            raise ZooError(f"--batch-size {batch_size} (the global batch) must be a multiple of the "
                           f"{self.world_size} processes")
        return batch_size // self.world_size


def rank_slice(step: int, batch_size: int, ranks: Ranks) -> slice:
    """Positions in the epoch's order of this process's part of global batch ``step`` (of ``batch_size``)."""
    share = ranks.local_batch_size(batch_size)
    start = step * batch_size + ranks.rank * share
    return slice(start, start + share)


def shard(num_images: int, ranks: Ranks) -> slice:
    """This process's contiguous part of ``num_images`` evaluation images; the parts cover each image once."""
    return slice(ranks.rank * num_images // ranks.world_size, (ranks.rank + 1) * num_images // ranks.world_size)


def check_batching(loader: str, batch_size: int, train: bool, generator: Optional[torch.Generator],
                   ranks: Ranks) -> None:
    """Check the batching options of a data loader (named ``loader`` in the errors).

    Raises:
        ValueError: For a non-positive batch size, or training without a generator.
        ZooError: If a training batch does not split evenly across the processes.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if train and generator is None:
        raise ValueError(f"a training {loader} needs a generator")
    if train:
        ranks.local_batch_size(batch_size)


def batches_per_pass(num_images: int, batch_size: int, train: bool) -> int:
    """Batches in one pass over ``num_images``: global batches, the last partial one dropped, for training;
    every image, the last batch possibly smaller, for evaluation."""
    return num_images // batch_size if train else math.ceil(num_images / batch_size)


def launched_ranks() -> Ranks:
    """The `Ranks` that ``torchrun`` set in the environment (a group of one without it)."""
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def init_process_group(device: torch.device) -> Tuple[Ranks, torch.device]:
    """Join the process group ``torchrun`` started, if any, and pick this process's device.

    Args:
        device: Requested device: ``cuda`` (each process then takes ``cuda:LOCAL_RANK``, with NCCL) or ``cpu``
            (gloo).

    Returns:
        ``(ranks, device this process trains on)``.

    Raises:
        ZooError: If several processes ask for one numbered GPU, or for a device type other than CUDA or CPU.
    """
    ranks = launched_ranks()
    if ranks.world_size == 1:
        return ranks, device
    if device.type == "cuda":
        if device.index is not None:
            raise ZooError(f"under torchrun each process trains on cuda:LOCAL_RANK; pass --device cuda, "
                           f"not {device}")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ZooError(f"distributed training runs on CUDA (NCCL) or the CPU (gloo), not on {device.type}")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank,
                            world_size=ranks.world_size, device_id=device if device.type == "cuda" else None)
    return ranks, device


def destroy_process_group() -> None:
    """Leave the process group, if this process is in one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returns it."""
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


def broadcast_buffers(module: nn.Module) -> None:
    """Give every process rank 0's buffers of ``module`` (BatchNorm statistics), which each rank updates alone."""
    if dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier() -> None:
    """Wait until every process gets here."""
    if dist.is_initialized():
        dist.barrier()
