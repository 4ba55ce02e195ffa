"""``resnet-zoo publish``: check a Hub model folder, then upload it (the work is `resnet_zoo.hub.publish`)."""
import argparse
from pathlib import Path


def arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``resnet-zoo publish``."""
    parser.add_argument("folder", type=Path, help="model folder, e.g. hub/cifar_resnet56.rz_cifar10")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME",
                        help="Hub repo, named <architecture>.<tag>, e.g. resnet-zoo/cifar_resnet56.rz_cifar10")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded, no upload")


def run(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo publish``: check the folder, then upload it (or, with ``--dry-run``, list it)."""
    from ..hub import publish, publish_files

    if not args.dry_run:
        print(publish(args.folder, args.repo_id, private=args.private))
        return 0
    files = publish_files(args.folder, args.repo_id)
    print(f"would upload to {args.repo_id} ({'private' if args.private else 'public'}), creating it if needed:")
    for file in files:
        print(f"  {file.name}  {file.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    from .cli import run_as_main

    run_as_main(__spec__.name)
