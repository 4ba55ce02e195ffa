"""``resnet-zoo export``: a checkpoint of the zoo's models as a Hub model folder (the work is `resnet_zoo.hub`)."""
import argparse
from pathlib import Path

from .card_options import add_card_arguments, card_options


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo export``."""
    parser.add_argument("checkpoint", type=Path,
                        help="safetensors state dict with resnet_zoo's names, or a training checkpoint (its EMA "
                             "weights, as validate evaluates them, for the dataset and classes of its run); use "
                             "`resnet-zoo convert` for other checkpoints")
    add_card_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo export``: build ``--model`` from the checkpoint and write its model folder."""
    from ..factory import build_for_export
    from ..hub import export

    options = card_options(args)
    model, options["dataset"] = build_for_export(args.model, args.checkpoint, args.dataset)
    print(export(model, args.out, **options))
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
