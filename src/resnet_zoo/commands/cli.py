"""The ``resnet-zoo`` command line: one sub-command per task, each a module of `resnet_zoo.commands` (``arguments``,
``run`` and an optional ``interrupted``), imported only when its command is named, so that ``resnet-zoo --help``
stays fast.

A command that fails on bad input prints one line, ``resnet-zoo NAME: error: ...``, naming the file or option
at fault, and exits with status 1: a `resnet_zoo.errors.ZooError`, or an `OSError` of the file system (a folder
that cannot be written, a file where a folder should be, …). Ctrl-C prints one line and exits with 130.
``--debug`` (or `DEBUG_ENV`) prints the traceback as well.

Every command runs with glibc's malloc thresholds pinned (`resnet_zoo.allocator.keep_freed_memory`), so that a
CPU step reuses the memory the previous one freed instead of faulting it in again.
"""
import argparse
import errno
import importlib
import os
import sys
import traceback
from types import ModuleType
from typing import List, NoReturn, Optional

from .. import __version__
from ..allocator import keep_freed_memory
from ..errors import ZooError

COMMANDS = {
    "predict": "classify image files with a (pretrained) model",
    "validate": "top-1/top-5/loss/throughput on a test split (CIFAR or an image folder)",
    "train": "train with the zoo's recipe, on one device or under torchrun",
    "export": "write a Hub model folder (config.json, model.safetensors, model card)",
    "verify": "check a Hub model folder: checksum, tensors, metadata",
    "publish": "validate a Hub model folder and upload it",
    "convert": "convert a torchvision/timm/CIFAR checkpoint into a Hub model folder",
    "export-onnx": "export a model with its weights to ONNX, checked with ONNX Runtime",
}
"""Command name -> one-line help; `command_module` implements it."""

DEBUG_ENV = "RESNET_ZOO_DEBUG"
"""Environment variable that, set to anything but ``""`` or ``"0"``, prints a failing command's traceback, as
``--debug`` does."""

OS_ADVICE = {
    errno.EACCES: "check the permissions of it and of its folder",
    errno.EPERM: "check the permissions of it and of its folder",
    errno.EROFS: "choose a path on a writable file system",
    errno.ENOSPC: "free some space or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "remove it or choose another path",
    errno.EISDIR: "it is a folder; give a file",
}
"""What to do about the file system errors a command may meet, by ``errno``."""

DEBUG_HELP = f"on failure, print the traceback too (as {DEBUG_ENV}=1 does)"


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
    parser = argparse.ArgumentParser(
        prog="resnet-zoo", description="Paper-exact ResNets for timm.",
        epilog=f"A command that fails prints one line naming the file or option at fault and exits with status 1; "
               f"--debug or {DEBUG_ENV}=1 prints the traceback too.")
    parser.add_argument("--version", action="version", version=f"resnet-zoo {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=DefaultsHelpFormatter)
        if name == chosen:
            command_module(name).arguments(p)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def command_module(name: str) -> ModuleType:
    """The module of `resnet_zoo.commands` that implements command ``name`` (``export-onnx``: ``export_onnx``)."""
    return importlib.import_module(f"{__package__}.{name.replace('-', '_')}")


def describe_os_error(error: OSError) -> str:
    """``FILE: reason; what to do`` of a file system error."""
    files = " -> ".join(str(f) for f in (error.filename, error.filename2) if f is not None)
    reason = error.strerror or str(error)
    advice = OS_ADVICE.get(error.errno)
    return f"{files + ': ' if files else ''}{reason}{'; ' + advice if advice else ''}"


def _interrupted(module: ModuleType, args: argparse.Namespace) -> str:
    """The line of a command stopped by Ctrl-C, with what its module's ``interrupted`` says it left."""
    left = getattr(module, "interrupted", None)
    return f"interrupted{'; ' + left(args) if left else ''}"


def run_as_main(module: str) -> NoReturn:
    """``python -m resnet_zoo.commands.NAME ARGS``, run as ``resnet-zoo NAME ARGS`` (not a silent import)."""
    sys.exit(main([module.rpartition(".")[2].replace("_", "-"), *sys.argv[1:]]))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``resnet-zoo``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(argv)  # imports the command's module (no torch: that waits for run)
        args = parser.parse_args(argv)
        module = command_module(args.command)
    except KeyboardInterrupt:
        print("resnet-zoo: interrupted", file=sys.stderr)
        return 130
    return _run(module, args)


def _run(module: ModuleType, args: argparse.Namespace) -> int:
    """Run the command ``args.command`` of ``module``; a bad input, a file system error or Ctrl-C is one line."""
    keep_freed_memory()
    try:
        return module.run(args)
    except (ZooError, OSError, KeyboardInterrupt) as e:
        if args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exc()
        if isinstance(e, KeyboardInterrupt):
            print(f"resnet-zoo {args.command}: {_interrupted(module, args)}", file=sys.stderr)
            return 130
        message = describe_os_error(e) if isinstance(e, OSError) else str(e)
        print(f"resnet-zoo {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
