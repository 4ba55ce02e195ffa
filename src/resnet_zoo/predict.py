"""Classify image files with a resnet_zoo model, preprocessed by timm from the model's pretrained cfg."""
import argparse
import json
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .errors import ZooError
from .precision import add_precision_argument


def sample_images() -> List[Path]:
    """The CIFAR-10 test images bundled with the package (one per class, named ``<class>_test<index>.png``)."""
    return sorted(Path(str(p)) for p in resources.files("resnet_zoo").joinpath("samples").iterdir()
                  if p.name.endswith(".png"))


def predict(model: torch.nn.Module, images: Sequence[Path], top_k: int = 3,
            dtype: Optional[torch.dtype] = None) -> List[Dict]:
    """Top-``k`` classes of each image.

    Args:
        model: A timm model on the CPU (its ``pretrained_cfg`` gives the preprocessing and the label names).
        images: Image files readable by Pillow.
        top_k: Number of classes to report per image.
        dtype: Autocast dtype, or ``None`` to run in the model's own precision.

    Returns:
        One dict per image: ``{"image": path, "top": [{"label", "index", "prob"}, ...]}``.

    Raises:
        ZooError: If an image cannot be read.
    """
    import timm.data
    from PIL import Image, UnidentifiedImageError

    cfg = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**cfg)
    labels = model.pretrained_cfg.get("label_names") or [str(i) for i in range(model.num_classes)]
    batch = []
    for path in images:
        try:
            with Image.open(path) as img:
                batch.append(transform(img.convert("RGB")))
        except (OSError, UnidentifiedImageError) as e:
            raise ZooError(f"cannot read image {path}: {e}") from None
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        probs = model(torch.stack(batch)).float().softmax(-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [
        {"image": str(path),
         "top": [{"label": labels[i], "index": i, "prob": round(p, 4)} for p, i in zip(ps.tolist(), idx.tolist())]}
        for path, ps, idx in zip(images, top.values, top.indices)
    ]


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo predict``."""
    parser.add_argument("images", nargs="*", type=Path,
                        help="image files (default: the CIFAR-10 samples bundled with resnet_zoo)")
    parser.add_argument("--model", default="cifar_resnet20", help="timm model name (default: %(default)s)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--pretrained", action="store_true",
                     help="load the model's pretrained weights (from $RESNET_ZOO_WEIGHTS, the HF cache or the Hub)")
    src.add_argument("--checkpoint", type=Path, metavar="PATH",
                     help="a Hub model folder (e.g. the export of `resnet-zoo train`), a safetensors weights file "
                          "or a training checkpoint (its EMA weights), as for validate")
    parser.add_argument("--top-k", type=int, default=3, help="classes shown per image")
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def predict_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo predict``."""
    from .precision import inference_model
    from .validate import load_model

    if not (args.pretrained or args.checkpoint):
        raise ZooError("give --pretrained or --checkpoint PATH: a randomly initialised model predicts nothing")
    model = load_model(args.model, None, args.pretrained, args.checkpoint)
    images = args.images or sample_images()
    model, dtype = inference_model(model, args.precision, torch.device("cpu"))
    results = predict(model, images, args.top_k, dtype)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        best = ", ".join(f"{t['label']} {t['prob']:.1%}" for t in r["top"])
        print(f"{Path(r['image']).name:32s} {best}")
    return 0
