"""The weights this repository ships in ``hub/``, and their top-1 measured without resnet_zoo's data or CLI."""
from pathlib import Path
from typing import Iterable, List

import pytest
import timm
import torch

from resnet_zoo.cifar import read_batch

HUB = Path(__file__).resolve().parents[1] / "hub"
"""The repository's weight folders, one per registered ``<model>.<tag>`` (`resnet_zoo.resnet.PRETRAINED`)."""
DEFAULT_MODEL = "cifar_resnet20"
"""The default run measures this model's shipped weights on the full test set; a deeper model's pass (20 s to a
minute each on a 2-core AVX2 CPU) runs with the slow tests."""


def default_or_slow(names: Iterable[str]) -> List:
    """``names`` of shipped weights as parameters, those of models deeper than `DEFAULT_MODEL` marked slow."""
    return [pytest.param(name, marks=() if name.partition(".")[0] == DEFAULT_MODEL else pytest.mark.slow)
            for name in names]


def cifar10_test_top1(model: torch.nn.Module, root: Path) -> float:
    """Top-1 (%) of ``model`` on the 10,000 CIFAR-10 test images: a plain fp32 loop, normalised with the mean/std of
    the model's pretrained cfg as timm resolves them, no resnet_zoo data loader or CLI."""
    batch = read_batch(root / "cifar-10-batches-py" / "test_batch")
    images = torch.from_numpy(batch["data"]).view(-1, 3, 32, 32).float().div(255)
    labels = torch.tensor(batch["labels"])
    cfg = timm.data.resolve_model_data_config(model)
    mean, std = (torch.tensor(cfg[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    correct = 0
    with torch.inference_mode():
        for x, y in zip(images.split(500), labels.split(500)):
            correct += (model.eval()((x - mean) / std).argmax(1) == y).sum().item()
    return 100 * correct / len(labels)
