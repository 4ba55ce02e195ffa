"""``resnet-zoo export-onnx``: a model with its weights as an ONNX graph for ONNX Runtime (the work is
`resnet_zoo.onnx_export`).

    resnet-zoo export-onnx --model cifar_resnet56 --pretrained cifar_resnet56.onnx
    resnet-zoo export-onnx --model cifar_resnet56 --checkpoint hub/cifar_resnet56.rz_cifar10 model.onnx --overwrite

The graph takes a float32 batch ``images`` (``N x 3 x H x W``, normalised with the model's mean and std) and gives
``logits``; BatchNorm is folded into the convolutions and the batch size is free.
"""
import argparse
from pathlib import Path

from ..errors import ZooError
from .options import add_model, add_weights


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo export-onnx``."""
    parser.add_argument("out", type=Path, help="the .onnx file to write")
    add_model(parser)
    add_weights(parser, required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace out if it exists")


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo export-onnx``: check ``out``, load the weights, export, check, print the file."""
    from ..factory import load_model
    from ..files import check_writable
    from ..onnx_export import export_onnx

    if args.out.is_dir():
        raise ZooError(f"{args.out} is a folder; give the .onnx file to write")
    if args.out.exists() and not args.overwrite:
        raise ZooError(f"{args.out} exists; pass --overwrite to replace it, or choose another file")
    check_writable(args.out.parent, "out")
    model = load_model(args.model, None, args.pretrained, args.checkpoint)
    print(export_onnx(model, args.out))
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
