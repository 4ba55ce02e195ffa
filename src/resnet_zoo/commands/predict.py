"""``resnet-zoo predict``: the top classes of image files, as a table or JSON (the work is `resnet_zoo.inference`)."""
import argparse
import json
import sys
from pathlib import Path

from ..errors import ZooError
from .options import add_model, add_precision, add_weights


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo predict``."""
    parser.add_argument("images", nargs="*", type=Path,
                        help="image files or folders of them (default: the CIFAR-10 samples bundled with resnet_zoo)")
    add_model(parser, default="cifar_resnet20")
    add_weights(parser, required=False)
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes shown per image, at least 1")
    add_precision(parser, inference=True)
    parser.add_argument("--json", action="store_true",
                        help="print JSON (one object per image, with the model and weights) instead of a table")


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo predict``: 0 if every image was classified, 1 if one could not be read (named on stderr)."""
    import torch

    from ..factory import load_model
    from ..inference import image_files, predict, sample_images
    from ..precision import inference_model

    if not (args.pretrained or args.checkpoint):
        raise ZooError("give --pretrained or --checkpoint PATH: a randomly initialised model predicts nothing")
    if args.top_k < 1:
        raise ZooError(f"--top-k must be at least 1, got {args.top_k}")
    images = image_files(args.images) if args.images else sample_images()
    model = load_model(args.model, None, args.pretrained, args.checkpoint)
    if args.top_k > model.num_classes:
        raise ZooError(f"--top-k {args.top_k}: the model has only {model.num_classes} classes; give at most "
                       f"{model.num_classes}")
    cfg = model.pretrained_cfg
    used = dict(model=cfg["architecture"],
                weights=str(args.checkpoint or cfg.get("file") or f"hf-hub:{cfg['hf_hub_id']}"))
    model, dtype = inference_model(model, args.precision, torch.device("cpu"))
    results = predict(model, images, args.top_k, dtype)
    classified = [dict(image=r["image"], **used, top=r["top"]) for r in results if "top" in r]
    if args.json:
        print(json.dumps(classified, indent=2))
    else:
        print(f"model {used['model']}, weights {used['weights']}")
        for r in classified:
            best = ", ".join(f"{t['label']} {t['prob']:.1%}" for t in r["top"])
            print(f"{Path(r['image']).name:32s} {best}")
    errors = [r["error"] for r in results if "error" in r]
    for error in errors:
        print(f"resnet-zoo predict: error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
