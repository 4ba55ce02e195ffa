"""``resnet-zoo verify``: check a Hub model folder and the run it may keep (the work is `resnet_zoo.hub.verify`)."""
import argparse
from pathlib import Path

from ..constants import LAST_CHECKPOINT


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo verify``."""
    parser.add_argument("folder", type=Path, help="model folder, e.g. hub/cifar_resnet56.rz_cifar10")


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo verify``: print what the folder holds, or fail with the reason."""
    from ..hub import verify

    info = verify(args.folder)
    metrics = ", ".join(f"{k} {v}" for k, v in info["metrics"].items()) or "no metrics"
    print(f"{info['folder']}: OK, {info['architecture']}.{info['tag']}, {info['num_params']:,} parameters, "
          f"{metrics}")
    for name, digest in info["files"].items():
        print(f"  {name}  sha256 {digest}")
    if info["run"] is not None:
        run = info["run"]
        print(f"  {LAST_CHECKPOINT}/: a run at epoch {run['epoch']} of {run['epochs']}, top-1 {run['top1']:.2f}%")
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
