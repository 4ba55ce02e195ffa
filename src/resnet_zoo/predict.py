"""Classify image files with a resnet_zoo model, preprocessed by timm from the model's pretrained cfg."""
import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .errors import ZooError
from .factory import load_model
from .precision import add_precision_argument, inference_model


def sample_images() -> List[Path]:
    """The CIFAR-10 test images bundled with the package (one per class, named ``<class>_test<index>.png``)."""
    return sorted(Path(str(p)) for p in resources.files("resnet_zoo").joinpath("samples").iterdir()
                  if p.name.endswith(".png"))


def image_files(paths: Sequence[Path]) -> List[Path]:
    """``paths`` with each folder replaced by the image files directly in it, sorted by name.

    Raises:
        ZooError: If a folder holds no image file.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS

    files: List[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not found:
            raise ZooError(f"{path} is a folder without image files ({' '.join(IMG_EXTENSIONS)})")
        files += found
    return files


def predict(model: torch.nn.Module, images: Sequence[Path], top_k: int = 3,
            dtype: Optional[torch.dtype] = None) -> List[Dict]:
    """Top-``k`` classes of each image; an unreadable image is reported, not raised, so the others are classified.

    Args:
        model: A timm model on the CPU (its ``pretrained_cfg`` gives the preprocessing and the label names).
        images: Image files readable by Pillow.
        top_k: Number of classes to report per image.
        dtype: Autocast dtype, or ``None`` to run in the model's own precision.

    Returns:
        One dict per image, in order: ``{"image": path, "top": [{"label", "index", "prob"}, ...]}``, or
        ``{"image": path, "error": "cannot read image PATH: REASON"}`` for an image that cannot be read.
    """
    import timm.data
    from PIL import Image

    cfg = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**cfg)
    labels = model.pretrained_cfg.get("label_names") or [str(i) for i in range(model.num_classes)]
    results, batch = [], []
    for path in images:
        results.append({"image": str(path)})
        try:
            with Image.open(path) as img:
                batch.append(transform(img.convert("RGB")))
        except OSError as e:  # missing, unreadable, or not an image Pillow knows (UnidentifiedImageError)
            results[-1]["error"] = f"cannot read image {path}: {e}"
    if not batch:
        return results
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        probs = model(torch.stack(batch)).float().softmax(-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    readable = [r for r in results if "error" not in r]
    for result, ps, idx in zip(readable, top.values.tolist(), top.indices.tolist()):
        result["top"] = [{"label": labels[i], "index": i, "prob": round(p, 4)} for p, i in zip(ps, idx)]
    return results


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo predict``."""
    parser.add_argument("images", nargs="*", type=Path,
                        help="image files or folders of them (default: the CIFAR-10 samples bundled with resnet_zoo)")
    parser.add_argument("--model", default="cifar_resnet20", help="timm model name (default: %(default)s)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--pretrained", action="store_true",
                     help="load the model's pretrained weights (from $RESNET_ZOO_WEIGHTS, the HF cache or the Hub)")
    src.add_argument("--checkpoint", type=Path, metavar="PATH",
                     help="a Hub model folder (e.g. the export of `resnet-zoo train`), a safetensors weights file "
                          "or a training checkpoint (its EMA weights), as for validate")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes shown per image, at least 1")
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print JSON (one object per image, with the model and weights) instead of a table")


def predict_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo predict``: 0 if every image was classified, 1 if one could not be read (named on stderr)."""
    if not (args.pretrained or args.checkpoint):
        raise ZooError("give --pretrained or --checkpoint PATH: a randomly initialised model predicts nothing")
    if args.top_k < 1:
        raise ZooError(f"--top-k must be at least 1, got {args.top_k}")
    images = image_files(args.images) if args.images else sample_images()
    model = load_model(args.model, None, args.pretrained, args.checkpoint)
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
