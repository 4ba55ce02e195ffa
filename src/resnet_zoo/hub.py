"""Hub model folders: `export` one, `verify` it, `publish` it.

A model folder is exactly one Hugging Face Hub model repo in timm's layout, so that after ``import resnet_zoo``
``timm.create_model("local-dir:FOLDER")`` and ``timm.create_model("hf-hub:ORG/NAME")`` load it:

* ``config.json``: as timm's ``save_config_for_hf`` writes it: ``architecture``, ``num_classes``,
  ``num_features``, ``global_pool``, ``label_names`` (which transformers reads), ``model_args`` (the arguments that
  rebuild the model, e.g. ``shortcut="A"``) and ``pretrained_cfg`` (tag, input size, mean/std, crop, license,
  label names, …);
* ``model.safetensors``, or shards ``model-0000K-of-0000N.safetensors`` with ``model.safetensors.index.json``,
  whose headers record the architecture, tag, dataset, metrics, recipe and resnet_zoo's version and commit;
* ``README.md``, the model card (`resnet_zoo.cards`): front matter for the Hub (``library_name: timm``, license,
  datasets, metrics), a table of accuracy, size, cost and training, the training command, and the SHA-256 of every
  weight file;
* ``train_log.jsonl`` and ``training_curve.png`` when the training log is given;
* ``last-checkpoint/``, the state of the run in progress, when the folder keeps one (`resnet_zoo.run_state`); a
  folder may hold that alone, before its run has shipped weights.
"""
import dataclasses
import inspect
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import timm
import torch
from huggingface_hub import HfApi, get_token, split_torch_state_dict_into_shards
from huggingface_hub.constants import CONFIG_NAME  # timm's model config in a Hub folder
from safetensors import safe_open
from safetensors.torch import save_file
from timm.models import PretrainedCfg
from timm.models._hub import save_config_for_hf

from . import __version__
from .cards import CARD_NAME, CURVE_NAME, METRICS, count_macs, file_sha256, model_card, plot_training_curve, read_card
from .checkpoint import load_checkpoint
from .constants import CHECKPOINT_FILE, LAST_CHECKPOINT
from .errors import WeightsError, ZooError, is_number
from .files import created_folders, replace_folder
from .pretrained import weights_name
from .resnet import ResNet, check_model_name
from .run_state import RUN_FILES, check_run_state
from .train_log import TRAIN_LOG_NAME, read_train_log
from .weights import (
    HUB_CLIENT, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, SHARD_NAME, SOURCE_KEYS, check_state_dict,
    read_metadata, read_weight_map, weight_files,
)

__all__ = ["export", "verify", "publish", "publish_files", "git_commit", "read_config", "check_tag",
           "REQUIRED_METADATA"]

REQUIRED_METADATA = ("format", "architecture", "tag", "resnet_zoo_version", "git_commit")
"""Keys every weight file's safetensors header must hold (dataset, metrics and recipe when known)."""
PRETRAINED_CFG_FIELDS = frozenset(f.name for f in dataclasses.fields(PretrainedCfg))
"""The fields of timm's pretrained cfg, the only keys ``config.json``'s ``pretrained_cfg`` may hold."""

TAG = re.compile(r"[A-Za-z0-9_]+")
SHARD_SIZE = re.compile(r"(\d+(?:\.\d*)?)\s*([KMGT]B)", re.I)
"""A ``max_shard_size``, as ``huggingface_hub`` reads it: a number and a unit, ``10MB``, ``1.5GB``."""


# ---------------------------------------------------------------------------------------------------------------
# export

def export(
        model: torch.nn.Module,
        out_dir: os.PathLike,
        *,
        tag: str,
        dataset: Optional[str] = None,
        metrics: Optional[Dict[str, float]] = None,
        recipe: Optional[dict] = None,
        command: Optional[str] = None,
        train_log: Optional[os.PathLike] = None,
        wall_time_s: Optional[float] = None,
        hardware: Optional[str] = None,
        max_shard_size: Optional[str] = None,
        pretrained_cfg: Optional[Mapping[str, Any]] = None,
        source: Optional[str] = None,
        source_top1: Optional[float] = None,
        license_text: Optional[str] = None,
        epochs: Optional[Tuple[int, int]] = None,
        code: Optional[Sequence[Tuple[int, str]]] = None,
        sittings: Optional[Sequence[Mapping[str, Any]]] = None,
        initialisation: Optional[str] = None,
        teacher: Optional[str] = None,
        keep_run: bool = True,
) -> Path:
    """Write ``model`` as a Hub model folder ``out_dir`` (see the module docstring), replacing it atomically.

    The folder is assembled next to ``out_dir`` and checked with `verify` before it takes ``out_dir``'s place, so
    an interrupted or failed export leaves no half-written file there (and an existing export intact).

    Args:
        model: A resnet_zoo model made by ``timm.create_model`` (``torch.compile`` wrappers are unwrapped).
        out_dir: The model folder to write, conventionally ``hub/<architecture>.<tag>``. An existing folder is
            replaced only if it holds nothing but export files.
        tag: Pretrained tag of the weights, e.g. ``"rz_cifar10"``.
        dataset: Dataset the weights were trained and evaluated on, e.g. ``"cifar10"``.
        metrics: ``top1`` and ``top5`` (percent) and optionally ``loss`` on ``dataset``'s test split.
        recipe: Training hyper-parameters, recorded as JSON.
        command: The exact command that trained the weights.
        train_log: JSON-lines training log, one object with `resnet_zoo.train_log.LOG_KEYS` per epoch; copied as
            ``train_log.jsonl`` and drawn as ``training_curve.png``.
        wall_time_s: Training wall-clock time in seconds.
        hardware: What it trained on, e.g. ``"1x NVIDIA H100 80GB"``.
        max_shard_size: Split the weights into shards of at most this size (``"10MB"``, ``"2GB"``, …).
        pretrained_cfg: Fields of timm's pretrained cfg in which the weights differ from the model's, e.g. the
            ``mean``/``std`` they were trained with, their ``license`` and ``origin_url``.
        source: Where weights made elsewhere come from, as Markdown (repository, commit, file, authors); the
            card credits it.
        source_top1: The top-1 (%) the source reports, shown beside the measured ``metrics``.
        license_text: The full text of the weights' licence, reproduced in the card.
        epochs: ``(k, n)``: weights after epoch ``k`` of a run of ``n`` epochs; ``k < n`` marks them interim.
        code: ``(first epoch, commit)`` of each stretch of epochs 1 to ``k`` that one resnet_zoo commit trained
            (`resnet_zoo.run` records them); needs ``epochs``.
        sittings: The sittings that trained the run (`resnet_zoo.run`), listed by the card.
        initialisation: Where the trained weights started (random, or weights and their top-1), a row of the card.
        teacher: The weights the model was distilled from, a row of the card.
        keep_run: Keep the run state (`resnet_zoo.constants.LAST_CHECKPOINT`) that ``out_dir`` holds; ``False``
            drops it with the old weights.

    Returns:
        The folder written.

    Raises:
        ZooError: For a bad tag, metrics without a dataset or ``top1``/``top5``, bad ``epochs`` or ``code``, a bad
            training log, shard size or ``pretrained_cfg``, a licence text without its ``license``, or an
            ``out_dir`` that holds other files.
        WeightsError: If the model is not a resnet_zoo model, or its config would not rebuild it exactly.
    """
    model = getattr(model, "_orig_mod", model)
    if not isinstance(model, ResNet) or "architecture" not in getattr(model, "pretrained_cfg", {}):
        raise WeightsError(f"export needs a resnet_zoo model made by timm.create_model, got {type(model).__name__}")
    _check_export_args(tag, dataset, metrics, epochs, code)
    _check_card_numbers(wall_time_s, source_top1, max_shard_size)
    if license_text and "license" not in (pretrained_cfg or {}):
        raise ZooError("license_text needs the licence's Hub id too: pretrained_cfg=dict(license=...) (--license)")
    records = read_train_log(Path(train_log)) if train_log is not None else None
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)

    config = _hub_config(model, tag, pretrained_cfg or {})
    state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    rebuilt = _build_from_config(config)
    check_state_dict({k: tuple(v.shape) for k, v in state_dict.items()},
                     {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()},
                     source=f"the model given to export ({type(model).__name__})",
                     architecture=f"{config['architecture']} rebuilt from its config "
                                  f"(model_args={config.get('model_args', {})})")
    metadata = _weights_metadata(config, dataset, metrics, recipe)

    with created_folders(out_dir.parent):  # a parent made here goes again if the export fails
        staged = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.partial"
        staged.mkdir()
        try:
            files = _write_weights(state_dict, staged, metadata, max_shard_size)
            _write_text(staged / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
            for file in files:  # safetensors writes owner-only files; give them the umask's permissions
                shutil.copymode(staged / CONFIG_NAME, file)
            if records is not None:
                shutil.copyfile(train_log, staged / TRAIN_LOG_NAME)
                plot_training_curve(records, staged / CURVE_NAME)
            card = model_card(
                config, files, metadata, dataset=dataset, metrics=metrics, recipe=recipe, command=command,
                wall_time_s=wall_time_s, hardware=hardware, num_params=sum(p.numel() for p in model.parameters()),
                macs=count_macs(rebuilt, config["pretrained_cfg"]["input_size"]), has_curve=records is not None,
                source=source, source_top1=source_top1, license_text=license_text, epochs=epochs, code=code,
                sittings=sittings, initialisation=initialisation, teacher=teacher)
            _write_text(staged / CARD_NAME, card)
            if keep_run and (out_dir / LAST_CHECKPOINT).is_dir():
                shutil.copytree(out_dir / LAST_CHECKPOINT, staged / LAST_CHECKPOINT)
            verify(staged)
            replace_folder(staged, out_dir)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return out_dir


def check_tag(tag: str) -> None:
    """Raise `ZooError` unless ``tag`` is a pretrained tag: letters, digits and underscores (``--tag``)."""
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise ZooError(f"tag {tag!r} must be letters, digits and underscores, e.g. 'rz_cifar10' (--tag)")


def _is_code(code: Sequence[Tuple[int, str]], last: int) -> bool:
    """Whether ``code`` is ``(first epoch, commit)`` pairs whose first epochs rise within 1 to ``last``."""
    if not code or not all(isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[1], str) and e[1]
                           for e in code):
        return False
    firsts = [first for first, _ in code]
    if not all(isinstance(f, int) and not isinstance(f, bool) for f in firsts):
        return False
    return firsts == sorted(set(firsts)) and 1 <= firsts[0] <= firsts[-1] <= last


def _is_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def _is_percent(value: Any) -> bool:
    return _is_number(value) and 0 <= value <= 100


def _check_export_args(tag: str, dataset: Optional[str], metrics: Optional[Mapping[str, float]],
                       epochs: Optional[Tuple[int, int]], code: Optional[Sequence[Tuple[int, str]]]) -> None:
    check_tag(tag)
    if epochs is not None and not (len(epochs) == 2 and all(isinstance(e, int) for e in epochs)
                                   and 1 <= epochs[0] <= epochs[1]):
        raise ZooError(f"epochs must be (k, n) with 1 <= k <= n, the epoch of the weights and the run's; got {epochs}")
    if code is not None and not (epochs is not None and _is_code(code, epochs[0])):
        raise ZooError(f"code must be (first epoch, commit) pairs whose first epochs rise within 1 to k of "
                       f"epochs=(k, n); got code={code}, epochs={epochs}")
    if metrics is None:
        return
    unknown, missing = set(metrics) - set(METRICS), {"top1", "top5"} - set(metrics)
    if unknown or missing:
        raise ZooError(f"metrics must have top1 and top5 (percent) and may have loss; got {sorted(metrics)}")
    if not all(map(_is_number, metrics.values())):
        raise ZooError(f"metrics must be finite numbers, got {dict(metrics)}")
    if not (_is_percent(metrics["top1"]) and _is_percent(metrics["top5"]) and metrics.get("loss", 0) >= 0):
        raise ZooError(f"metrics top1 and top5 (--top1, --top5) must be percentages in [0, 100], loss (--loss) "
                       f"at least 0; got {dict(metrics)}")
    if not dataset:
        raise ZooError("metrics need the dataset they were measured on (dataset=...)")


def _check_card_numbers(wall_time_s: Optional[float], source_top1: Optional[float],
                        max_shard_size: Optional[str]) -> None:
    """The card's other numbers: a time of at least 0 s, a percentage, a size with a unit."""
    if wall_time_s is not None and not (_is_number(wall_time_s) and wall_time_s >= 0):
        raise ZooError(f"wall_time_s (--wall-time-s) must be a number of seconds, at least 0; got {wall_time_s}")
    if source_top1 is not None and not _is_percent(source_top1):
        raise ZooError(f"source_top1 (--source-top1) must be a percentage in [0, 100], got {source_top1}")
    size = SHARD_SIZE.fullmatch(max_shard_size.strip()) if isinstance(max_shard_size, str) else None
    if max_shard_size is not None and not (size and float(size.group(1)) > 0):
        raise ZooError(f"max_shard_size {max_shard_size!r} (--max-shard-size) must be a size above 0 with a unit: "
                       f"KB, MB, GB or TB, e.g. '10MB'")


def _is_export_file(name: str) -> bool:
    return name in (CONFIG_NAME, CARD_NAME, SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, TRAIN_LOG_NAME,
                    CURVE_NAME, LAST_CHECKPOINT) or bool(SHARD_NAME.fullmatch(name))


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ZooError(f"{out_dir} exists and is not a folder")
    others = sorted(p.name for p in out_dir.iterdir() if not _is_export_file(p.name)) if out_dir.is_dir() else []
    if others:
        raise ZooError(f"refusing to replace {out_dir}: it holds {', '.join(others[:5])}, which an export "
                       f"folder does not (export writes one model folder, e.g. hub/<architecture>.<tag>)")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _model_args(model: ResNet) -> Dict[str, Any]:
    """Constructor arguments of ``model`` that differ from `ResNet`'s defaults (none of the architectures
    registered by resnet_zoo changes these two)."""
    defaults = inspect.signature(ResNet).parameters
    current = {
        "shortcut": model.shortcut,
        "global_pool": model.global_pool.pool_type,
    }
    return {k: v for k, v in current.items() if v != defaults[k].default}


def _check_cfg_overrides(overrides: Mapping[str, Any], in_chans: int) -> None:
    """``overrides`` may set timm's pretrained cfg fields, but not where the weights are, nor their name."""
    fixed = {"architecture", "tag", "source", *SOURCE_KEYS}
    bad = sorted(k for k in overrides if k in fixed or k not in PRETRAINED_CFG_FIELDS)
    if bad:
        raise ZooError(f"pretrained_cfg may set timm's PretrainedCfg fields but not {', '.join(sorted(fixed))}; "
                       f"got {', '.join(bad)}")
    check_normalization(overrides, in_chans, "pretrained_cfg", ZooError)


def check_normalization(cfg: Mapping[str, Any], in_chans: int, where: str, error: type = WeightsError) -> None:
    """Raise ``error``, naming ``where``, unless ``cfg``'s ``mean`` and ``std`` (where it has them) hold one finite
    number per input channel, every ``std`` above 0: the inputs are divided by it."""
    values = {k: cfg[k] for k in ("mean", "std") if k in cfg}
    wrong = [k for k, v in values.items() if not isinstance(v, (list, tuple)) or len(v) != in_chans]
    if wrong:
        raise error(f"{where} {' and '.join(wrong)} must have one value per input channel ({in_chans})")
    bad = [f"{k} {list(v)}" for k, v in values.items() if not all(map(_is_number, v))
           or k == "std" and min(v) <= 0]
    if bad:
        raise error(f"{where} mean and std must be finite numbers, std above 0 (inputs are divided by it); "
                    f"got {', '.join(bad)}")


def _hub_config(model: ResNet, tag: str, overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """``config.json`` of ``model``, as timm's ``save_config_for_hf`` writes it (its schema, the arguments that
    rebuild the model, the label names at the top level, where transformers reads them), with the pretrained cfg
    updated by ``overrides`` and ``tag`` to describe these weights."""
    _check_cfg_overrides(overrides, model.in_chans)
    model_config: Dict[str, Any] = {"pretrained_cfg": dict(overrides, tag=tag)}
    labels = model.pretrained_cfg.get("label_names")
    if labels is not None and len(labels) == model.num_classes:
        model_config["label_names"] = list(labels)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / CONFIG_NAME
        save_config_for_hf(model, str(path), model_config=model_config, model_args=_model_args(model))
        config = json.loads(path.read_text(encoding="utf-8"))
    # transformers' TimmWrapper passes num_classes itself, beside model_args; the top-level num_classes tells timm
    model_args = config.pop("model_args", {})
    model_args.pop("num_classes", None)
    return {**config, "model_args": model_args} if model_args else config


def _build_from_config(config: Mapping[str, Any]) -> ResNet:
    """The model ``config`` describes, as timm builds it for ``local-dir:``/``hf-hub:``, on the meta device."""
    shape = dict(num_classes=config["num_classes"], in_chans=config["pretrained_cfg"]["input_size"][0])
    return timm.create_model(config["architecture"], device="meta", **(shape | config.get("model_args", {})))


def git_commit(file: Path) -> str:
    """The commit of the git checkout that tracks ``file``, as `export` records it for its own module.

    A checkout that does not track ``file`` (e.g. another project's, around an installed package) has nothing to
    say about it.

    Returns:
        The commit's 40 hex digits, with ``-dirty`` appended if tracked files of ``file``'s folder (the code, not
        the data a run keeps beside it in ``hub/``) have uncommitted changes; ``unknown`` without git or a checkout
        that tracks ``file``.
    """
    git = ["git", "-C", str(file.resolve().parent)]
    try:
        subprocess.run([*git, "ls-files", "--error-unmatch", file.name], check=True, capture_output=True)
        commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
        status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no", "--", "."], check=True,
                                capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def _weights_metadata(config: Mapping[str, Any], dataset: Optional[str], metrics: Optional[Mapping[str, float]],
                      recipe: Optional[dict]) -> Dict[str, str]:
    metadata = {
        "format": "pt",
        "architecture": config["architecture"],
        "tag": config["pretrained_cfg"]["tag"],
        "resnet_zoo_version": __version__,
        "timm_version": timm.__version__,
        "git_commit": git_commit(Path(__file__)),
    }
    if dataset:
        metadata["dataset"] = dataset
    metadata.update({k: repr(float(v)) for k, v in (metrics or {}).items()})
    if recipe is not None:
        metadata["recipe"] = json.dumps(recipe, sort_keys=True)
    return metadata


def _write_weights(state_dict: Dict[str, torch.Tensor], folder: Path, metadata: Dict[str, str],
                   max_shard_size: Optional[str]) -> List[Path]:
    """Write ``model.safetensors``, or shards and their index when they exceed ``max_shard_size``."""
    if max_shard_size is None:
        save_file(state_dict, folder / SAFE_WEIGHTS_NAME, metadata=metadata)
        return [folder / SAFE_WEIGHTS_NAME]
    try:
        split = split_torch_state_dict_into_shards(state_dict, max_shard_size=max_shard_size)
    except ValueError as e:
        raise ZooError(f"max_shard_size {max_shard_size!r}: {e}") from None
    for name, keys in split.filename_to_tensors.items():
        save_file({k: state_dict[k] for k in keys}, folder / name, metadata=metadata)
    if split.is_sharded:
        index = {"metadata": {**split.metadata, **metadata}, "weight_map": split.tensor_to_filename}
        _write_text(folder / SAFE_WEIGHTS_INDEX_NAME, json.dumps(index, indent=2) + "\n")
    return [folder / name for name in split.filename_to_tensors]


# ---------------------------------------------------------------------------------------------------------------
# verify

def read_config(folder: Path) -> Dict[str, Any]:
    """``config.json`` of a model folder, checked to name a resnet_zoo architecture and a valid pretrained cfg
    (its tag, only timm's fields, a mean and std fit to normalise with).

    Raises:
        WeightsError: Naming the file and what is wrong with it.
    """
    path = folder / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable JSON file ({e})") from None
    cfg = config.get("pretrained_cfg") if isinstance(config, dict) else None
    if not isinstance(cfg, dict) or not all(k in config for k in ("architecture", "num_classes")):
        raise WeightsError(f"{path}: needs architecture, num_classes and pretrained_cfg (timm's schema)")
    try:
        check_model_name(str(config["architecture"]))
    except ZooError as e:
        raise WeightsError(f"{path}: architecture {e}") from None
    unknown = sorted(set(cfg) - PRETRAINED_CFG_FIELDS)
    if unknown or not cfg.get("tag"):
        raise WeightsError(f"{path}: pretrained_cfg needs a tag and only timm's fields; unknown: {unknown}")
    check_normalization(cfg, (cfg.get("input_size") or (3,))[0], f"{path}: pretrained_cfg")
    return config


def _check_files(folder: Path) -> List[Path]:
    """The weight files of ``folder``, checked to be the only files besides the other export files."""
    names = {p.name for p in folder.iterdir()}
    others = sorted(n for n in names if not _is_export_file(n))
    if others:
        raise WeightsError(f"{folder}: holds files a model folder does not: {', '.join(others)}")
    if SAFE_WEIGHTS_NAME in names and SAFE_WEIGHTS_INDEX_NAME in names:
        raise WeightsError(f"{folder}: holds both {SAFE_WEIGHTS_NAME} and {SAFE_WEIGHTS_INDEX_NAME}")
    files = weight_files(folder)
    stray = sorted(n for n in names if SHARD_NAME.fullmatch(n) and folder / n not in files)
    if stray:
        raise WeightsError(f"{folder}: holds shards its index does not list: {', '.join(stray)}")
    return files


def verify(folder: os.PathLike) -> Dict[str, Any]:
    """Check a model folder: config, file list, checksums, metadata, a strict load through timm, and the run it
    keeps.

    Checks that ``config.json`` names a resnet_zoo architecture, that the folder holds only export files, that
    the SHA-256 of every weight file matches the model card and the card lists no others, that every weight
    file's header has `REQUIRED_METADATA` agreeing with the config (and metrics agreeing with the card's),
    and that ``timm.create_model("local-dir:FOLDER", pretrained=True)`` loads every tensor strictly. A run state
    (`resnet_zoo.run_state`) must be a run of the folder's model and tag whose model and EMA fit it and whose log
    has its epochs; a folder that keeps a run may have no weights yet.

    Args:
        folder: The model folder.

    Returns:
        ``folder``, ``architecture``, ``tag``, ``num_classes``, ``num_params``, ``files`` (name -> SHA-256),
        ``metrics`` (from the card; may be empty), ``metadata`` (of the first weight file; empty without weights)
        and ``run`` (``epoch``, ``epochs`` and ``top1`` of the run it keeps, or ``None``).

    Raises:
        WeightsError: Naming the file at fault and what is wrong with it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: not a folder")
    if not (folder / CONFIG_NAME).exists() and (folder / LAST_CHECKPOINT).exists():
        return _verify_run_only(folder)
    config = read_config(folder)
    architecture, tag = config["architecture"], config["pretrained_cfg"]["tag"]
    files = _check_files(folder)
    card = read_card(folder / CARD_NAME)
    card_hashes, metrics = card.files, card.metrics
    hashes = {f.name: file_sha256(f) for f in files}
    wrong = [f"{n} (file {h[:12]}…, card {card_hashes[n][:12]}…)" for n, h in hashes.items()
             if n in card_hashes and card_hashes[n] != h]
    unlisted, absent = sorted(set(hashes) - set(card_hashes)), sorted(set(card_hashes) - set(hashes))
    if wrong or unlisted or absent:
        raise WeightsError(f"{folder / CARD_NAME}: SHA-256 does not match for {', '.join(wrong) or '-'}; "
                           f"not listed: {', '.join(unlisted) or '-'}; listed but absent: {', '.join(absent) or '-'}")
    index = folder / SAFE_WEIGHTS_INDEX_NAME
    weight_map = read_weight_map(index) if index.is_file() else None
    for file in files:
        metadata = read_metadata(file)
        if weight_map is not None:
            with safe_open(str(file), framework="pt") as f:
                if set(f.keys()) != {k for k, name in weight_map.items() if name == file.name}:
                    raise WeightsError(f"{file}: holds other tensors than {SAFE_WEIGHTS_INDEX_NAME} maps to it")
        missing = [k for k in REQUIRED_METADATA if k not in metadata]
        if missing:
            raise WeightsError(f"{file}: header metadata lacks {', '.join(missing)}")
        recorded = (metadata["architecture"], metadata["tag"])
        if recorded != (architecture, tag):
            raise WeightsError(f"{file}: header records {'.'.join(recorded)}, config.json {architecture}.{tag}")
        disagree = [k for k in METRICS if k in metadata and float(metadata[k]) != metrics.get(k)]
        if disagree:
            raise WeightsError(f"{file}: header metrics {', '.join(disagree)} differ from the model card's")
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    if model.num_classes != config["num_classes"]:  # timm would have dropped the classifier instead
        raise WeightsError(f"{folder / CONFIG_NAME}: {architecture} builds with {model.num_classes} classes, "
                           f"not num_classes={config['num_classes']}")
    return {
        "folder": str(folder), "architecture": architecture, "tag": tag, "num_classes": config["num_classes"],
        "num_params": sum(p.numel() for p in model.parameters()), "files": hashes, "metrics": metrics,
        "metadata": read_metadata(files[0]), "run": _verify_run(folder, model, architecture, tag),
    }


def _verify_run(folder: Path, model: torch.nn.Module, architecture: str, tag: str) -> Optional[Dict[str, Any]]:
    """``epoch``, ``epochs`` and ``top1`` of the run that ``folder`` keeps for ``model``, once checked; ``None``
    without one."""
    run = folder / LAST_CHECKPOINT
    if not run.exists():
        return None
    names = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
    if names != sorted(RUN_FILES):
        raise WeightsError(f"{run}: must be a folder of {', '.join(sorted(RUN_FILES))}; holds {', '.join(names)}")
    state = check_run_state(folder, {k: tuple(v.shape) for k, v in model.state_dict().items()}, architecture, tag)
    try:
        log = read_train_log(run / TRAIN_LOG_NAME)
    except ZooError as e:
        raise WeightsError(str(e)) from None
    if log != state["history"]:
        raise WeightsError(f"{run / TRAIN_LOG_NAME}: differs from the log of its checkpoint")
    return {"epoch": state["epoch"], "epochs": state["recipe"]["epochs"], "top1": state["history"][-1]["test_top1"]}


def _verify_run_only(folder: Path) -> Dict[str, Any]:
    """`verify` of a model folder that keeps a run but has no weights yet: its only content is the run."""
    others = sorted(p.name for p in folder.iterdir() if p.name != LAST_CHECKPOINT)
    if others:
        raise WeightsError(f"{folder}: holds {', '.join(others)} but no {CONFIG_NAME}")
    state = load_checkpoint(folder / LAST_CHECKPOINT / CHECKPOINT_FILE)[1]
    architecture, tag = state["recipe"]["model"], state.get("tag")
    model = timm.create_model(architecture, num_classes=len(state.get("classes") or ()) or None, device="meta")
    return {"folder": str(folder), "architecture": architecture, "tag": tag, "num_classes": model.num_classes,
            "num_params": sum(p.numel() for p in model.parameters()), "files": {}, "metrics": {}, "metadata": {},
            "run": _verify_run(folder, model, architecture, tag)}


# ---------------------------------------------------------------------------------------------------------------
# publish

def publish_files(folder: os.PathLike, repo_id: str) -> List[Path]:
    """Check that ``folder`` can be published as ``repo_id``; return the files an upload would send.

    Besides `verify`, the card of weights must hold ``top1`` and ``top5`` and the repo must be named
    ``<org>/<architecture>.<tag>``, the name the registered pretrained cfgs point at.

    Raises:
        WeightsError: If the folder does not verify or its card has no metrics.
        ZooError: If ``repo_id`` is not ``ORG/<architecture>.<tag>``.
    """
    info = verify(folder)
    missing = [k for k in ("top1", "top5") if k not in info["metrics"]]
    if missing and info["files"]:
        raise WeightsError(f"{Path(folder) / CARD_NAME}: has no {', '.join(missing)} metrics; export with metrics")
    name = weights_name(info["architecture"], info["tag"])
    org, _, repo_name = repo_id.partition("/")
    if not org or repo_name != name:
        raise ZooError(f"repo id {repo_id!r} must be ORG/{name}, the folder's model and tag")
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def publish(folder: os.PathLike, repo_id: str, *, private: bool = False) -> str:
    """Check ``folder`` (see `publish_files`), create the Hub repo if needed and upload the folder.

    Needs a Hugging Face token with write access (``HF_TOKEN`` or ``hf auth login``) and the network.

    Returns:
        The URL of the upload's commit.

    Raises:
        WeightsError, ZooError: As `publish_files`; ZooError also without a token, or when the Hub refuses the
            upload or cannot be reached.
    """
    publish_files(folder, repo_id)
    if get_token() is None:
        raise ZooError(f"publishing needs a Hugging Face token with write access to {repo_id}: set HF_TOKEN or "
                       f"run `hf auth login` (--dry-run checks the folder without one)")
    api = HfApi(**HUB_CLIENT)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=folder,
                                   commit_message=f"Upload {Path(folder).name} with resnet_zoo {__version__}")
    except Exception as e:  # refused (HTTP), unreachable (the HTTP client's own errors) or offline mode
        raise ZooError(f"upload of {folder} to {repo_id} failed: {type(e).__name__}: {e}") from e
    return commit.commit_url
