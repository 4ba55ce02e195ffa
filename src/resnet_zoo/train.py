"""``resnet-zoo train``: the options of a training run, parsed into a `resnet_zoo.engine.Recipe` (what the run
computes) and `resnet_zoo.run.RunOptions` (where and how it runs) for `resnet_zoo.run.train`.

    resnet-zoo train --model cifar_resnet56 --data DIR [--dataset cifar100] [--out DIR] [--resume]
    torchrun --nproc-per-node 8 -m resnet_zoo train --model zoo_resnet50 --dataset imagefolder --data DIR ...

``--lr`` defaults to `resnet_zoo.engine.default_lr` of ``--batch-size`` (the global batch under
``torchrun``), ``--precision auto`` to bf16 where it is sure to be faster (see `resnet_zoo.precision`).
``--resume`` continues a killed run from its checkpoint to the same final weights as an uninterrupted run.
``--sync-bn`` computes BatchNorm statistics over the global batch (CUDA only).
"""
import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, Tuple

from .checkpoint import CHECKPOINT_FILE
from .distributed import launched_ranks
from .engine import LR_PER_128, MAX_WARMUP_EPOCHS, Recipe
from .factory import resolve_device
from .options import add_data, add_device, add_model, add_precision, add_workers
from .precision import resolve_precision
from .run import RunOptions, train


def recipe_and_options(args: argparse.Namespace) -> Tuple[Recipe, RunOptions]:
    """The recipe and run options of ``resnet-zoo train``'s parsed options, on the device ``--device`` names:
    ``--precision auto`` is resolved for the device (`resnet_zoo.precision.resolve_precision`)."""
    device = resolve_device(args.device)
    recipe = Recipe(**(_values(Recipe, args) | dict(precision=resolve_precision(args.precision, device))))
    return recipe, RunOptions(**(_values(RunOptions, args) | dict(device=device)))


def _values(cls: type, args: argparse.Namespace) -> Dict[str, Any]:
    """The options in ``args`` named as the fields of dataclass ``cls``."""
    return {f.name: getattr(args, f.name) for f in fields(cls)}


def train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo train`` to ``parser``."""
    d = Recipe()
    add = parser.add_argument
    add_model(parser)
    add_data(parser, "train/ and val/")
    add("--out", type=Path, metavar="DIR", help="run folder (default: runs/MODEL.TAG)")
    add("--tag", help="pretrained tag of the export (default: rz_cifar10, rz_cifar100 or rz_imagefolder)")
    add("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add("--epochs", type=int, default=d.epochs, metavar="N", help="passes over the train images")
    add("--batch-size", type=int, default=d.batch_size, metavar="N",
        help="images per step, over all processes under torchrun")
    add("--lr", type=float, help=f"peak learning rate (default: {LR_PER_128} x batch size / 128)")
    add("--momentum", type=float, default=d.momentum, help="Nesterov momentum")
    add("--wd", type=float, default=d.wd, help="weight decay (not on BatchNorm and biases)")
    add("--warmup-epochs", type=int, metavar="N",
        help=f"linear learning-rate warmup (default: epochs / 10, at most {MAX_WARMUP_EPOCHS})")
    add("--label-smoothing", type=float, default=d.label_smoothing, help="of the training loss")
    add("--ema-decay", type=float, default=d.ema_decay, help="EMA decay of the weights; 0: no EMA")
    add("--cutout", type=int, default=d.cutout, metavar="PIXELS", help="cutout square side, CIFAR only; 0: off")
    add("--sync-bn", action="store_true", help="BatchNorm statistics over the global batch (torchrun on CUDA)")
    add_precision(parser, inference=False)
    add("--seed", type=int, default=d.seed, help="of the initialisation, the order and the augmentations")
    add("--subset", type=int, metavar="N", help="train on the first N train images only (default: all)")
    add("--test-subset", type=int, metavar="N", help="evaluate on the first N test images only (default: all)")
    add_device(parser, "cuda if available; under torchrun cuda:LOCAL_RANK")
    add("--compile", action=argparse.BooleanOptionalAction, default=None,
        help="torch.compile the step, with CUDA graphs on one GPU (default: on with CUDA)")
    add_workers(parser)


def train_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo train``; rank 0 prints the exported folder; returns 0."""
    folder = train(*recipe_and_options(args))
    if launched_ranks().is_main:
        print(f"exported {folder}")
    return 0


def train_interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C of ``resnet-zoo train`` leaves: the checkpoint of the last finished epoch, which ``--resume``
    continues, or (before the first) nothing."""
    recipe, options = recipe_and_options(args)
    checkpoint = options.folder(recipe) / CHECKPOINT_FILE
    if not checkpoint.is_file():
        return "no epoch had finished, so nothing was written"
    return f"{checkpoint} holds the last finished epoch: run the same command with --resume to continue"

