"""The command-line options that several commands share, each defined once: the model and its weights, the data,
the device, the image decoding processes and the precision. The commands' modules add them to their parsers."""
import argparse
from pathlib import Path
from typing import Optional

from ..constants import DATASET_NAMES, DEFAULT_DATASET, DEFAULT_WORKERS, PRECISIONS


def add_model(parser: argparse.ArgumentParser, default: Optional[str] = None, required: Optional[bool] = None) -> None:
    """``--model``, ``required`` (by default: unless it has a ``default``)."""
    required = default is None if required is None else required
    later = "" if required or default else " (required for a new run)"
    parser.add_argument("--model", required=required, default=default, help=f"model name, e.g. cifar_resnet56{later}")


def add_weights(parser: argparse.ArgumentParser, required: bool) -> None:
    """``--pretrained`` or ``--checkpoint PATH``, the weights to evaluate (`resnet_zoo.factory.load_model`)."""
    weights = parser.add_mutually_exclusive_group(required=required)
    weights.add_argument("--pretrained", action="store_true",
                         help="the model's pretrained weights (from $RESNET_ZOO_WEIGHTS, the HF cache or the Hub)")
    weights.add_argument("--checkpoint", type=Path, metavar="PATH",
                         help="a Hub model folder (e.g. the export of `resnet-zoo train`), a safetensors weights "
                              "file or a training checkpoint (its EMA weights)")


def add_data(parser: argparse.ArgumentParser, image_folders: str, unset: bool = False) -> None:
    """``--data``, ``--dataset`` and ``--download``; ``image_folders`` names the sub-folders an image folder tree
    needs for the command (``"train/ and val/"``). With ``unset``, ``--dataset`` is ``None`` unless given (its help
    still names the default), so that a command can tell what was given."""
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help=f"folder holding cifar-10-batches-py/, cifar-100-python/ or (imagefolder) {image_folders}")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default=None if unset else DEFAULT_DATASET,
                        help="sets the number of classes too" + (f" (default: {DEFAULT_DATASET})" if unset else ""))
    parser.add_argument("--download", action="store_true", help="fetch a CIFAR dataset with torchvision if missing")


def add_device(parser: argparse.ArgumentParser, default: str = "cuda if available") -> None:
    """``--device``; ``default`` says what it is without the option."""
    parser.add_argument("--device", help=f"e.g. cpu, cuda, cuda:1 (default: {default})")


def add_workers(parser: argparse.ArgumentParser) -> None:
    """``--workers``, the image decoding processes of an image folder."""
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                        help="image decoding processes per process, for imagefolder")


def add_precision(parser: argparse.ArgumentParser, inference: bool) -> None:
    """``--precision auto|bf16|fp32`` of inference (`resnet_zoo.precision.inference_model`) or of training."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help=(
        "auto: BatchNorm folded, channels_last, bf16 where it is sure to be faster (GPU, CPU with AMX); bf16: the "
        "same in bf16 anywhere; fp32: the model exactly as loaded" if inference else
        "auto: bf16 autocast where it is sure to be faster (a GPU, a CPU with AMX), else fp32"))
