"""Classifying image files, preprocessed by timm from the model's pretrained cfg (what ``resnet-zoo predict`` runs)."""
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import timm.data
import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from .errors import ZooError
from .imagefolder import image_error


def sample_images() -> List[Path]:
    """The CIFAR-10 test images bundled with the package (one per class, named ``<class>_test<index>.png``)."""
    return sorted(Path(str(p)) for p in resources.files("resnet_zoo").joinpath("samples").iterdir()
                  if p.name.endswith(".png"))


def image_files(paths: Sequence[Path]) -> List[Path]:
    """``paths`` with each folder replaced by the image files directly in it, sorted by name.

    Raises:
        ZooError: If a folder holds no image file.
    """
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
            results[-1]["error"] = image_error(path, e)
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
