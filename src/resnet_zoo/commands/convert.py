"""``resnet-zoo convert``: a torchvision, timm or CIFAR checkpoint made elsewhere as a Hub model folder (the work is
`resnet_zoo.conversion`)."""
import argparse
from pathlib import Path

from .card_options import add_card_arguments, card_options


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo convert``."""
    parser.add_argument("src", type=Path, help="checkpoint: .safetensors, or .pth/.pt/.bin/.th (weights only)")
    add_card_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo convert``."""
    from ..conversion import convert

    options = card_options(args)
    print(convert(args.src, args.out, model=args.model, **options))
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
