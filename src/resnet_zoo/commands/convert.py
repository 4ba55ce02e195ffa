"""``resnet-zoo convert``: a torchvision, timm or CIFAR checkpoint made elsewhere as a Hub model folder (the work is
`resnet_zoo.conversion`)."""
import argparse
from pathlib import Path

from .card_options import add_card_arguments, card_options, check_out


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo convert``."""
    parser.add_argument("src", type=Path, help="checkpoint: .safetensors, or .pth/.pt/.bin/.th (weights only)")
    parser.add_argument("out", type=Path, help="model folder to write, e.g. hub/zoo_resnet50.tv_in1k")
    parser.add_argument("--model", required=True, help="resnet_zoo architecture, e.g. zoo_resnet50")
    add_card_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo convert``."""
    from ..conversion import convert

    check_out(args)
    options = card_options(args)
    print(convert(args.src, args.out, model=args.model, **options))
    return 0
