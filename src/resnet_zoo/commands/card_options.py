"""The options of the model folder that ``resnet-zoo export`` and ``resnet-zoo convert`` write: the folder, the
architecture, the tag, what the card records (metrics, the recipe and log of the training, the credit and licence
of weights made elsewhere) and sharding; `card_options` turns them into the keyword arguments of
`resnet_zoo.hub.export`."""
import argparse
import json
import typing
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import ZooError
from ..files import check_writable
from ..recipe import Recipe

KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
"""How a `--recipe` message names the JSON kind of a `resnet_zoo.recipe.Recipe` field."""


def add_card_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``export`` and ``convert``, after their source: the model folder ``out`` to write, the
    architecture, the tag, what the card records, and sharding."""
    parser.add_argument("out", type=Path, help="model folder to write, e.g. hub/cifar_resnet56.rz_cifar10")
    parser.add_argument("--model", required=True, help="resnet_zoo architecture, e.g. cifar_resnet56")
    parser.add_argument("--tag", required=True, help="pretrained tag of the weights, e.g. rz_cifar10")
    parser.add_argument("--dataset", help="dataset trained and evaluated on, e.g. cifar10")
    parser.add_argument("--top1", type=float, help="top-1 accuracy (%%) on the dataset's test split")
    parser.add_argument("--top5", type=float, help="top-5 accuracy (%%)")
    parser.add_argument("--loss", type=float, help="test loss")
    parser.add_argument("--recipe", type=Path, metavar="JSON", help="JSON file of training hyper-parameters")
    parser.add_argument("--command", dest="train_command", metavar="CMD", help="exact training command")
    parser.add_argument("--train-log", type=Path, metavar="JSONL", help="training log, one JSON object per epoch")
    parser.add_argument("--wall-time-s", type=float, metavar="S", help="training wall-clock time in seconds")
    parser.add_argument("--hardware", help="training hardware, e.g. '1x NVIDIA H100 80GB'")
    parser.add_argument("--max-shard-size", metavar="SIZE", help="shard weights above this size, e.g. 10MB")
    parser.add_argument("--overwrite", action="store_true", help="replace the model folder out if it exists")
    source = parser.add_argument_group("weights made elsewhere")
    source.add_argument("--mean", type=float, nargs="+", metavar="M",
                        help="per-channel input mean the weights were trained with (default: the model's)")
    source.add_argument("--std", type=float, nargs="+", metavar="S", help="per-channel input std, likewise")
    source.add_argument("--license", help="licence of the weights, as a Hub licence id (default: the model's, "
                                          "apache-2.0), e.g. bsd-2-clause")
    source.add_argument("--license-file", type=Path, metavar="FILE",
                        help="the licence's full text, reproduced in the card")
    source.add_argument("--origin-url", metavar="URL", help="where the weights come from (pretrained_cfg origin_url)")
    source.add_argument("--source", metavar="MARKDOWN",
                        help="credit for the weights: repository, commit, file, authors (a row of the card)")
    source.add_argument("--source-top1", type=float, metavar="PCT", help="top-1 (%%) the source reports")


def _read_text(option: str, path: Optional[Path]) -> Optional[str]:
    """The text of the file given to ``option`` (``None`` without one)."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ZooError(f"{option} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ZooError(f"{option} {path}: not a text file (UTF-8)") from None


def _fits(value: Any, kind: Any) -> bool:
    """Whether JSON ``value`` has the kind of a field typed ``kind`` (an int is a float too, a bool neither)."""
    allowed = typing.get_args(kind) or (kind,)
    allowed = (*allowed, int) if float in allowed else allowed
    return isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))


def _read_recipe(path: Optional[Path]) -> Optional[Dict[str, Any]]:
    """The JSON object of ``--recipe``; its `resnet_zoo.recipe.Recipe` options must have their kinds (``lr`` a
    number, ``model`` a string, …), others are recorded as they are."""
    text = _read_text("--recipe", path)
    if text is None:
        return None
    try:
        recipe = json.loads(text)
    except ValueError as e:
        raise ZooError(f"--recipe {path}: not a readable JSON file ({e})") from None
    if not isinstance(recipe, dict):
        raise ZooError(f"--recipe {path}: must hold a JSON object of hyper-parameters, e.g. {{\"lr\": 0.1}}, "
                       f"not {json.dumps(recipe)[:40]}")
    kinds = typing.get_type_hints(Recipe)
    wrong = [f"{k} must be {' or '.join(KIND_NAMES[t] for t in typing.get_args(kinds[k]) or (kinds[k],))}, "
             f"not {json.dumps(v)[:40]}" for k, v in recipe.items() if k in kinds and not _fits(v, kinds[k])]
    if wrong:
        raise ZooError(f"--recipe {path}: {'; '.join(wrong)}")
    return recipe


def _check_out(args: argparse.Namespace) -> None:
    """The model folder ``out`` can be written, and an existing one is replaced only with ``--overwrite``
    (`resnet_zoo.hub.export` itself replaces it)."""
    check_writable(args.out, "out")
    if args.out.exists():
        if not args.overwrite:
            raise ZooError(f"{args.out} exists; pass --overwrite to replace it, or choose another folder")
        check_writable(args.out.parent, "out")  # where the new folder is assembled and renamed into place


def card_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments of `resnet_zoo.hub.export` from the options of `add_card_arguments`, once ``out`` is
    known to be writable (before any work)."""
    from ..cards import METRICS

    _check_out(args)
    metrics = {k: getattr(args, k) for k in METRICS if getattr(args, k) is not None}
    cfg = {k: getattr(args, k) for k in ("mean", "std", "license", "origin_url") if getattr(args, k) is not None}
    return dict(tag=args.tag, dataset=args.dataset, metrics=metrics or None, recipe=_read_recipe(args.recipe),
                command=args.train_command, train_log=args.train_log, wall_time_s=args.wall_time_s,
                hardware=args.hardware, max_shard_size=args.max_shard_size, pretrained_cfg=cfg or None,
                source=args.source, source_top1=args.source_top1,
                license_text=_read_text("--license-file", args.license_file))
