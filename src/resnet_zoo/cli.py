"""The ``resnet-zoo`` command line: one sub-command per task, each implemented in its own module.

A command ``NAME`` lives in module ``MODULE`` as two functions: ``NAME_arguments(parser)`` adds its options and
``NAME_command(args) -> int`` runs it and returns the exit status. Modules are imported only when their
command runs, so ``resnet-zoo --help`` stays fast.
"""
import argparse
import importlib
import sys
from typing import List, Optional

from .errors import ZooError

COMMANDS = {
    "predict": ("resnet_zoo.predict", "classify image files with a (pretrained) model"),
    "validate": ("resnet_zoo.validate", "top-1/top-5/loss/throughput on a test split (CIFAR or an image folder)"),
    "train": ("resnet_zoo.train", "train with the zoo's recipe, on one device or under torchrun"),
    "export": ("resnet_zoo.hub_commands", "write a Hub model folder (config.json, model.safetensors, model card)"),
    "verify": ("resnet_zoo.hub_commands", "check a Hub model folder: checksum, tensors, metadata"),
    "publish": ("resnet_zoo.hub_commands", "validate a Hub model folder and upload it"),
    "convert": ("resnet_zoo.hub_commands", "convert a torchvision/timm/CIFAR checkpoint into a Hub model folder"),
}
"""Command name -> (module that implements it, one-line help)."""


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to each option whose help does not already say its default, unless X is
    ``None`` or ``False`` (an option that is off or has no value unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        off = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if off or "default" in help_text or not action.option_strings:
            return help_text
        return f"{help_text} (default: %(default)s)".lstrip()


def build_parser(argv: List[str]) -> argparse.ArgumentParser:
    """The top-level parser; only the module of the command named in ``argv`` is imported."""
    from . import __version__
    parser = argparse.ArgumentParser(prog="resnet-zoo", description="Paper-exact ResNets for timm.")
    parser.add_argument("--version", action="version", version=f"resnet-zoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=DefaultsHelpFormatter)
        if name == chosen:
            getattr(importlib.import_module(module), f"{name}_arguments")(p)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``resnet-zoo``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return getattr(module, f"{args.command}_command")(args)
    except ZooError as e:
        print(f"resnet-zoo {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
