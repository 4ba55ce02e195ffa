"""``resnet-zoo validate``: top-1, top-5, loss and throughput of a model on a test split.

    resnet-zoo validate --model cifar_resnet56 --pretrained --data DIR [--json] [--tta flip]
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
The command parses its options for `resnet_zoo.evaluation.evaluate_weights` and prints what it returns.
"""
import argparse
import json
from dataclasses import asdict
from typing import Any, Dict

from ..constants import EVAL_BATCH_SIZE, TTA
from .options import add_data, add_device, add_model, add_precision, add_weights, add_workers


def arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo validate`` to ``parser``."""
    add_model(parser)
    add_weights(parser, required=True)
    add_data(parser, "val/")
    parser.add_argument("--batch-size", type=int, default=EVAL_BATCH_SIZE, metavar="N")
    parser.add_argument("--subset", type=int, metavar="N", help="only the first N test images")
    add_workers(parser)
    add_device(parser)
    add_precision(parser, inference=True)
    parser.add_argument("--tta", choices=TTA, help="also the metrics of test-time augmentation, beside the plain "
                                                   "ones: flip, the mean logits of each image and its mirror")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo validate``; prints the metrics and returns 0."""
    from ..datasets import get_dataset
    from ..devices import resolve_device
    from ..evaluation import evaluate_weights

    metrics = evaluate_weights(
        args.model, args.data, dataset=args.dataset, pretrained=args.pretrained, checkpoint=args.checkpoint,
        precision=args.precision, device=resolve_device(args.device), batch_size=args.batch_size,
        subset=args.subset, workers=args.workers, download=args.download, tta=args.tta)
    report: Dict[str, Any] = dict(model=args.model, dataset=args.dataset, **asdict(metrics))
    if metrics.flip is None:
        del report["flip"]
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.model} on {get_dataset(args.dataset).title} test ({metrics.images} images): "
          f"top-1 {metrics.top1:.2f}%  top-5 {metrics.top5:.2f}%  loss {metrics.loss:.4f}  "
          f"{metrics.img_per_s:,.0f} img/s")
    if metrics.flip is not None:
        print(f"with flip TTA: top-1 {metrics.flip.top1:.2f}%  top-5 {metrics.flip.top5:.2f}%  "
              f"loss {metrics.flip.loss:.4f}")
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
