"""``resnet-zoo train``: the options of a training run, parsed into a `resnet_zoo.recipe.Recipe` (what the run
computes) and `resnet_zoo.run.RunOptions` (where and how it runs) for `resnet_zoo.run.train`.

    resnet-zoo train --model cifar_resnet56 --data DIR [--dataset cifar100] [--out DIR] [--hub-folder DIR]
    resnet-zoo train --resume hub/cifar_resnet56.rz_cifar10 --data DIR --time-budget 2h20m
    torchrun --nproc-per-node 8 -m resnet_zoo train --model zoo_resnet50 --dataset imagefolder --data DIR ...

``--lr`` defaults to `resnet_zoo.recipe.default_lr` of ``--batch-size`` (the global batch under
``torchrun``), ``--precision auto`` to bf16 where it is sure to be faster (see `resnet_zoo.precision`).
``--resume`` continues a killed run from its checkpoint to the same final weights as an uninterrupted run;
``--resume FOLDER`` continues the run kept in a model folder (or ``hf-hub:ORG/NAME``) on any machine, with the
recipe it records: options given beside it must agree, except ``--precision``, which each sitting chooses.
``--time-budget`` stops the sitting at the last epoch boundary that fits.
``--sync-bn`` computes BatchNorm statistics over the global batch (CUDA only). ``--teacher`` distils from
trained weights (an ensemble, comma-separated; see `resnet_zoo.distill`).
"""
import argparse
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Tuple

from ..budget import format_duration, parse_duration
from ..constants import CHECKPOINT_FILE, DATASET_NAMES, LAST_CHECKPOINT, RUNS_FOLDER, default_tag
from ..errors import ZooError
from .options import add_data, add_device, add_model, add_precision, add_workers
from ..recipe import DISTILL_TEMPERATURE, DISTILL_WEIGHT, LR_PER_128, MAX_WARMUP_EPOCHS, Recipe, recipe_defaults

if TYPE_CHECKING:
    from ..run import RunOptions


def recipe_and_options(args: argparse.Namespace) -> Tuple[Recipe, "RunOptions"]:
    """The recipe and run options of ``resnet-zoo train``'s parsed options, on the device ``--device`` names:
    ``--precision auto`` is resolved for the device, where need be by a probe (`resnet_zoo.probe`). A run that
    ``--resume`` continues takes the recipe it records, with the options given here.

    Raises:
        ZooError: For bad options, or a new run without ``--model``.
    """
    from ..devices import resolve_device
    from ..probe import choose_precision
    from ..run import RunOptions, resumed_recipe

    device = resolve_device(args.device)
    budget = parse_duration(args.time_budget) if args.time_budget is not None else None
    options = RunOptions(**(_values(RunOptions, args) | dict(device=device, time_budget=budget)))
    given = {k: v for k, v in _values(Recipe, args).items() if v is not None and k != "precision"}
    saved = resumed_recipe(options, Recipe(**{k: v for k, v in given.items() if k in ("model", "dataset")})
                           if "model" in given else None)
    if saved is None and "model" not in given:
        raise ZooError("--model is required to start a run (--resume FOLDER continues one without it)")
    precision, probe = choose_precision(args.precision, device, given.get("model") or saved.model)
    options = replace(options, probe=probe.describe() if probe else None)
    recipe = replace(saved, **given, precision=precision) if saved else Recipe(**given, precision=precision)
    return recipe, options


def _values(cls: type, args: argparse.Namespace) -> Dict[str, Any]:
    """The options in ``args`` named as the fields of dataclass ``cls``."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo train`` to ``parser``.

    The recipe's options have no argparse default (their help says it): a run that ``--resume`` continues takes
    the values it records for those not given.
    """
    d = recipe_defaults()
    add = parser.add_argument
    add_model(parser, required=False)
    add_data(parser, "train/ and val/", unset=True)
    add("--out", type=Path, metavar="DIR", help=f"run folder (default: {RUNS_FOLDER}/MODEL.TAG)")
    add("--tag", help=f"pretrained tag of the export (default: by dataset, "
                      f"{', '.join(default_tag(dataset) for dataset in DATASET_NAMES)})")
    add("--resume", nargs="?", const=True, default=False, metavar="FOLDER",
        help=f"alone: continue the run in --out from its checkpoint; FOLDER: continue the run kept in that model "
             f"folder's {LAST_CHECKPOINT}/ (or hf-hub:ORG/NAME), on any machine, with the recipe it records")
    add("--hub-folder", type=Path, metavar="DIR",
        help=f"the run's model folder: keeps its state ({LAST_CHECKPOINT}/) after every epoch and receives its "
             f"weights if they score higher (default: the FOLDER of --resume, else OUT/MODEL.TAG)")
    add("--init", metavar="WEIGHTS",
        help="start a new run from weights: registered (cifar_resnet56.rz_cifar10), a model folder or hf-hub:ORG/NAME, "
             "of the model or of a shallower CIFAR ResNet whose blocks per stage divide the model's (grown)")
    add("--time-budget", metavar="DURATION",
        help="stop at the last epoch boundary that fits in this long, e.g. 2h20m, 90m (default: no limit)")
    add("--epochs", type=int, metavar="N", help=f"passes over the train images (default: {d['epochs']})")
    add("--batch-size", type=int, metavar="N",
        help=f"images per step, over all processes under torchrun (default: {d['batch_size']})")
    add("--lr", type=float, help=f"peak learning rate (default: {LR_PER_128} x batch size / 128)")
    add("--momentum", type=float, help=f"Nesterov momentum (default: {d['momentum']})")
    add("--wd", type=float, help=f"weight decay, not on BatchNorm and biases (default: {d['wd']})")
    add("--warmup-epochs", type=int, metavar="N",
        help=f"linear learning-rate warmup (default: epochs / 10, at most {MAX_WARMUP_EPOCHS})")
    add("--label-smoothing", type=float, help=f"of the training loss (default: {d['label_smoothing']})")
    add("--ema-decay", type=float, help=f"EMA decay of the weights; 0: no EMA (default: {d['ema_decay']})")
    add("--cutout", type=int, metavar="PIXELS", help=f"cutout square side, CIFAR only; 0: off (default: {d['cutout']})")
    add("--teacher", metavar="WEIGHTS",
        help="distil from these weights, comma-separated for an ensemble: registered (cifar_resnet32.rz_cifar10), "
             "model folders or hf-hub:ORG/NAME (default: none)")
    add("--distill-weight", type=float, metavar="W",
        help=f"share of the distillation loss, with --teacher (default: {DISTILL_WEIGHT})")
    add("--distill-temperature", type=float, metavar="T",
        help=f"softmax temperature of the distillation, with --teacher (default: {DISTILL_TEMPERATURE})")
    add("--sync-bn", action="store_true", default=None,
        help="BatchNorm statistics over the global batch (torchrun on CUDA)")
    add_precision(parser, inference=False)
    add("--seed", type=int, help=f"of the initialisation, the order and the augmentations (default: {d['seed']})")
    add("--subset", type=int, metavar="N", help="train on the first N train images only (default: all)")
    add("--test-subset", type=int, metavar="N", help="evaluate on the first N test images only (default: all)")
    add_device(parser, "cuda if available; under torchrun cuda:LOCAL_RANK")
    add("--compile", action=argparse.BooleanOptionalAction, default=None,
        help="torch.compile the step, with CUDA graphs on one GPU (default: on with CUDA)")
    add_workers(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo train``; rank 0 prints one line of how far the run got; returns 0."""
    from ..distributed import launched_ranks
    from ..run import train

    recipe, options = recipe_and_options(args)
    args.run_checkpoint = options.folder(recipe) / CHECKPOINT_FILE  # what `interrupted` reports, resolved once
    if options.probe and launched_ranks().is_main:
        print(f"--precision {recipe.precision} ({options.probe})", flush=True)
    result = train(recipe, options)
    if not launched_ranks().is_main:
        return 0
    if result.exported:
        print(f"exported {result.folder}")
    elif result.finished:
        print(f"finished epoch {result.epochs} of {result.epochs} at top-1 {result.top1:.2f}%, which does not beat "
              f"the weights in {result.folder} on the full test set: they stay, and so does the run in "
              f"{result.folder / LAST_CHECKPOINT}/")
    else:
        print(f"stopped after epoch {result.epoch} of {result.epochs} (top-1 {result.top1:.2f}%) within "
              f"--time-budget {format_duration(options.time_budget)}; the run is kept in "
              f"{result.folder / LAST_CHECKPOINT}/; continue it with: {result.continue_with}")
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C of ``resnet-zoo train`` leaves: the checkpoint of the last finished epoch, which ``--resume``
    continues, or (before the first, or before `run` knew the run's folder) nothing."""
    checkpoint = getattr(args, "run_checkpoint", None)
    if checkpoint is None or not checkpoint.is_file():
        return "no epoch had finished, so nothing was written"
    return f"{checkpoint} holds the last finished epoch: run the same command with --resume to continue"


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
