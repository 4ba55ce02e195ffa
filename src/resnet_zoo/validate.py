"""``resnet-zoo validate``: top-1, top-5, loss and throughput of a model on a test split.

    resnet-zoo validate --model cifar_resnet56 --pretrained --data DIR [--json]
    resnet-zoo validate --model cifar_resnet56 --checkpoint runs/x/cifar_resnet56.rz_cifar10 --data DIR
    resnet-zoo validate --model cifar_resnet56 --checkpoint model.safetensors --data DIR
    resnet-zoo validate --model zoo_resnet50 --checkpoint DIR --dataset imagefolder --data IMAGES

The test split is CIFAR's ``test`` batch, or the ``val/`` folder of an image folder tree (see
`resnet_zoo.datasets`).

``--checkpoint`` takes a Hub model folder (``config.json`` + weights, loaded through timm's ``local-dir:``), a
safetensors weights file, or a training checkpoint of ``resnet-zoo train`` (its EMA weights when it has them,
the ones its log measured). Inputs are normalised with the model's ``pretrained_cfg`` mean and std. By default
(``--precision auto``) the model runs in its fast form: BatchNorm folded, channels_last, and bf16 autocast where
the device computes bf16 natively; ``--precision fp32`` runs it exactly as loaded (see `resnet_zoo.precision`).
"""
import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict

from .datasets import DATASETS, check_data_folder, create_dataset, create_loader, get_dataset
from .evaluation import EVAL_BATCH_SIZE, EvalMetrics, evaluate
from .factory import load_model, resolve_device
from .imagefolder import DEFAULT_WORKERS
from .precision import add_precision_argument, inference_model


def validate(args: argparse.Namespace) -> EvalMetrics:
    """Evaluate the model that ``args`` (the options of ``resnet-zoo validate``) describe on its test split."""
    device = resolve_device(args.device)
    if not args.download:
        check_data_folder(args.data)  # before the weights, which may come over the network
    # the classes of a dataset that does not fix them (an image folder: listed, not decoded) shape the model, so it
    # is listed first; the others are read after the weights, so that weights that do not fit fail first
    listed = create_dataset(args.dataset, args.data, "test", args.subset) \
        if get_dataset(args.dataset).num_classes is None else None
    model = load_model(args.model, args.dataset, args.pretrained, args.checkpoint,
                       listed.classes if listed is not None else None)
    test = listed if listed is not None else create_dataset(args.dataset, args.data, "test", args.subset,
                                                            download=args.download)
    model, dtype = inference_model(model, args.precision, device)
    loader = create_loader(args.dataset, test, args.batch_size, model.pretrained_cfg, device, workers=args.workers,
                           channels_last=args.precision != "fp32")
    return evaluate(model, loader, dtype)


def validate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo validate`` to ``parser``."""
    parser.add_argument("--model", required=True, help="model name, e.g. cifar_resnet56")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--pretrained", action="store_true",
                         help="the model's pretrained weights (from $RESNET_ZOO_WEIGHTS, the HF cache or the Hub)")
    weights.add_argument("--checkpoint", type=Path, metavar="PATH",
                         help="a Hub model folder, a safetensors weights file or a training checkpoint")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="folder holding cifar-10-batches-py/, cifar-100-python/ or (imagefolder) val/")
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument("--download", action="store_true", help="fetch a CIFAR dataset with torchvision if missing")
    parser.add_argument("--batch-size", type=int, default=EVAL_BATCH_SIZE, metavar="N")
    parser.add_argument("--subset", type=int, metavar="N", help="only the first N test images")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                        help=f"image decoding processes, for imagefolder (default: {DEFAULT_WORKERS})")
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: cuda if available)")
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def validate_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo validate``; prints the metrics and returns 0."""
    metrics = validate(args)
    report: Dict[str, Any] = dict(model=args.model, dataset=args.dataset, **asdict(metrics))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.model} on {get_dataset(args.dataset).title} test ({metrics.images} images): "
              f"top-1 {metrics.top1:.2f}%  top-5 {metrics.top5:.2f}%  loss {metrics.loss:.4f}  "
              f"{metrics.img_per_s:,.0f} img/s")
    return 0
