"""An export given every detail a model card records, shared by ``test_hub`` and ``test_cards``."""
import hashlib
import json
from pathlib import Path

import timm

from resnet_zoo.hub import export

METRICS = {"top1": 91.73, "top5": 99.71, "loss": 0.2891}
RECIPE = {"epochs": 2, "lr": 0.1}
COMMAND = "resnet-zoo train --model cifar_resnet20 --epochs 2"
WALL_TIME_S = 3725.0
HARDWARE = "1x NVIDIA H100 80GB"


def write_log(path: Path) -> Path:
    """A training log of three made-up epochs at ``path``."""
    lines = [json.dumps({"epoch": e, "train_loss": 2.0 / e, "lr": 0.1 / e, "train_top1": 30.0 * e,
                         "test_top1": 28.0 * e, "test_top5": 90.0, "test_loss": 2.1 / e, "img_per_s": 5000.0,
                         "wall_s": 10.0 * e}) for e in (1, 2, 3)]
    path.write_text("\n".join(lines) + "\n")
    return path


def export_full(tmp_path: Path) -> Path:
    """Export a fresh ``cifar_resnet20`` to ``tmp_path/hub/cifar_resnet20.rz_cifar10`` with metrics, recipe,
    command, training log (``tmp_path/log.jsonl``), wall time and hardware."""
    return export(timm.create_model("cifar_resnet20"), tmp_path / "hub" / "cifar_resnet20.rz_cifar10", tag="rz_cifar10",
                  dataset="cifar10", metrics=METRICS, recipe=RECIPE, command=COMMAND,
                  train_log=write_log(tmp_path / "log.jsonl"), wall_time_s=WALL_TIME_S, hardware=HARDWARE)


def sha256(path: Path) -> str:
    """The SHA-256 of a file, computed here rather than by the code under test."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
