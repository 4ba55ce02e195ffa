"""Weight files: finding, reading and checking them, and handing them to timm's pretrained loading.

A weights folder is one Hugging Face Hub model repo in timm's layout: ``config.json`` and either a single
``model.safetensors`` or shards ``model-0000K-of-0000N.safetensors`` listed in
``model.safetensors.index.json``. `pretrained_overlay` is what `resnet_zoo.resnet` uses to load pretrained
weights: it finds the weights (a ``RESNET_ZOO_WEIGHTS`` folder, a local file or folder, or the Hub through
``huggingface_hub``'s cache), checks that they are readable, and points timm's ``load_pretrained`` at the local
copy; `check_pretrained` (timm's ``pretrained_filter_fn``) then checks every key and shape against the model.
Every problem is one `WeightsError` naming the file, the architecture and the offending keys.
"""
import json
import os
import re
import zipfile
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.constants import SAFETENSORS_INDEX_FILE as SAFE_WEIGHTS_INDEX_NAME  # the index of shards
from huggingface_hub.constants import SAFETENSORS_SINGLE_FILE as SAFE_WEIGHTS_NAME  # the single weights file
from huggingface_hub.utils import EntryNotFoundError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from timm.models import PretrainedCfg

from . import __version__
from .errors import WeightsError
from .pretrained import weights_name

__all__ = [
    "WEIGHTS_ENV", "SAFE_WEIGHTS_NAME", "SAFE_WEIGHTS_INDEX_NAME",
    "read_weight_map", "weight_files", "read_metadata", "read_state_dict", "check_state_dict", "check_pretrained",
    "hub_file",
    "pretrained_overlay", "finish_pretrained_cfg",
]

WEIGHTS_ENV = "RESNET_ZOO_WEIGHTS"
"""Environment variable naming a folder with one sub-folder ``<model>.<tag>`` per Hub repo (e.g. the repo's
``hub/``); while it is set, the registered weights ``<model>.<tag>`` load from there and never from the Hub."""

HUB_CLIENT = dict(library_name="resnet-zoo", library_version=__version__)
"""How resnet_zoo introduces itself to the Hugging Face Hub (``huggingface_hub``'s user agent)."""

SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
"""Name of a shard, as ``huggingface_hub.split_torch_state_dict_into_shards`` writes them."""

SOURCE_KEYS = ("file", "url", "hf_hub_id", "hf_hub_filename", "state_dict")
"""Pretrained cfg fields that say where the weights come from."""

Shapes = Mapping[str, Tuple[int, ...]]
PathLike = Union[str, "os.PathLike[str]"]


# ---------------------------------------------------------------------------------------------------------------
# files

def read_weight_map(index: PathLike) -> Dict[str, str]:
    """Tensor name -> shard file name, from a ``model.safetensors.index.json``.

    Raises:
        WeightsError: If the index is unreadable or names files that are not shards.
    """
    try:
        weight_map = json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{index}: not a readable safetensors index ({type(e).__name__}: {e})") from None
    names = set(weight_map.values()) if isinstance(weight_map, dict) else set()
    if not names or not all(isinstance(n, str) and SHARD_NAME.fullmatch(n) for n in names):
        raise WeightsError(f"{index}: its weight_map must map tensor names to shard files named like "
                           f"model-00001-of-00002.safetensors, got {sorted(map(str, names))[:3]}")
    return weight_map


def _shard_names(index: Path) -> List[str]:
    """Shard file names listed in a ``model.safetensors.index.json``, in order."""
    return sorted(set(read_weight_map(index).values()))


def weight_files(path: PathLike) -> List[Path]:
    """The safetensors files that hold the weights of a Hub folder, or ``[path]`` for a single file.

    Args:
        path: A weights file, or a folder with ``model.safetensors`` or ``model.safetensors.index.json``
            (the single file is preferred when both are there, as timm does).

    Returns:
        The files, shards in order.

    Raises:
        WeightsError: If ``path`` does not exist, or the folder holds neither file, or shards listed in the
            index are missing.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise WeightsError(f"{path}: no such weights file or folder")
    if (path / SAFE_WEIGHTS_NAME).is_file():
        return [path / SAFE_WEIGHTS_NAME]
    index = path / SAFE_WEIGHTS_INDEX_NAME
    if not index.is_file():
        raise WeightsError(f"{path}: holds neither {SAFE_WEIGHTS_NAME} nor {SAFE_WEIGHTS_INDEX_NAME}")
    files = [path / name for name in _shard_names(index)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise WeightsError(f"{index}: lists shards that are not there: {', '.join(missing)}")
    return files


LEGACY_TORCH_SAVE = b"\x80\x02"
"""How a legacy (before torch 1.6) ``torch.save`` file starts: a protocol-2 pickle."""


def _unreadable(file: Path, error: Exception) -> WeightsError:
    """The error of a safetensors file that could not be read: missing, a folder, not readable, or corrupt."""
    if not file.exists():
        return WeightsError(f"{file}: no such file")
    if file.is_dir():
        return WeightsError(f"{file}: is a folder, not a safetensors file")
    try:
        torch_save = _is_torch_save(file)
    except OSError as e:
        return WeightsError(f"{file}: cannot be read ({e.strerror or e}); check its permissions")
    if torch_save:
        return WeightsError(f"{file}: a torch.save checkpoint, not a safetensors file; convert it with "
                            f"`resnet-zoo convert`")
    return WeightsError(f"{file}: not a readable safetensors file, truncated or corrupt ({error})")


def _is_torch_save(file: Path) -> bool:
    """Whether ``file`` looks like a ``torch.save`` file: a zip archive holding a ``data.pkl`` (torch >= 1.6), or a
    protocol-2 pickle (the legacy format)."""
    if zipfile.is_zipfile(file):
        try:
            with zipfile.ZipFile(file) as archive:
                return any(name.rpartition("/")[2] == "data.pkl" for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    with file.open("rb") as f:
        return f.read(2) == LEGACY_TORCH_SAVE


def read_metadata(file: PathLike) -> Dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (``{}`` when it has none).

    Reading the header also checks that the file is as long as the header says, so a truncated file fails here.

    Raises:
        WeightsError: If the file cannot be read as safetensors.
    """
    try:
        with safe_open(str(file), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise _unreadable(Path(file), e) from None


def read_state_dict(files: Sequence[PathLike]) -> Dict[str, torch.Tensor]:
    """All tensors of safetensors ``files`` (a single file or the shards of one state dict), on the CPU.

    Raises:
        WeightsError: If a file is unreadable or two files hold the same tensor.
    """
    state_dict: Dict[str, torch.Tensor] = {}
    for file in files:
        try:
            tensors = load_file(str(file), device="cpu")
        except (SafetensorError, OSError) as e:
            raise _unreadable(Path(file), e) from None
        twice = sorted(set(state_dict) & set(tensors))
        if twice:
            raise WeightsError(f"{file}: holds tensors that another shard holds too: {_listing(twice)}")
        state_dict.update(tensors)
    return state_dict


# ---------------------------------------------------------------------------------------------------------------
# checking

def _listing(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, … ({len(names) - limit} more)" if len(names) > limit else shown


def check_state_dict(
        found: Shapes,
        expected: Shapes,
        *,
        source: str,
        architecture: str,
        ignore_keys: Iterable[str] = (),
        ignore_shapes: Iterable[str] = (),
) -> None:
    """Raise a `WeightsError` unless ``found`` has exactly the keys and shapes of ``expected``.

    Args:
        found: Tensor name -> shape of the weights.
        expected: Tensor name -> shape of the model's state dict.
        source: What the weights are (a path or Hub id), named in the error.
        architecture: The model the weights are for, named in the error.
        ignore_keys: Keys that may be missing or unexpected (e.g. a classifier timm replaces).
        ignore_shapes: Keys whose shapes are not compared (e.g. a stem conv timm adapts to ``in_chans``).

    Raises:
        WeightsError: Naming ``source``, ``architecture`` and the missing, unexpected and mismatched keys.
    """
    ignore_keys, ignore_shapes = set(ignore_keys), set(ignore_shapes)
    missing = [k for k in expected if k not in found and k not in ignore_keys]
    unexpected = sorted(k for k in found if k not in expected and k not in ignore_keys)
    mismatched = [f"{k} {tuple(found[k])} vs {tuple(expected[k])} in the model" for k in expected
                  if k in found and k not in ignore_shapes | ignore_keys
                  and tuple(found[k]) != tuple(expected[k])]
    problems = [f"{len(names)} {what}: {_listing(names)}" for what, names in
                (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
                if names]
    if problems:
        raise WeightsError(f"{source} does not fit {architecture}: {'; '.join(problems)}")


def _describe_source(cfg: Mapping[str, Any]) -> str:
    """The weights named by a pretrained cfg, with the architecture a resnet_zoo file records, if any."""
    if cfg.get("file"):
        file = Path(cfg["file"])
        recorded = None
        if file.is_dir() or file.suffix == ".safetensors":
            recorded = read_metadata(weight_files(file)[0]).get("architecture")
        return f"{file} (exported from {recorded})" if recorded else str(file)
    if cfg.get("hf_hub_id"):
        return f"hf-hub:{cfg['hf_hub_id']}"
    if cfg.get("url"):
        return str(cfg["url"])
    return "the state_dict in pretrained_cfg"


def check_pretrained(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """timm ``pretrained_filter_fn`` that checks pretrained weights against ``model`` before timm loads them.

    The classifier is not checked when the model's ``num_classes`` differs from the weights' (timm drops it),
    nor the stem conv's shape when ``in_chans`` differs (timm adapts it).

    Args:
        state_dict: The weights timm read.
        model: The model they are for, with its ``pretrained_cfg``.

    Returns:
        ``state_dict``, unchanged.

    Raises:
        WeightsError: If keys are missing or unexpected, or shapes differ.
    """
    cfg = model.pretrained_cfg
    classifier, first_conv = cfg.get("classifier"), cfg.get("first_conv")
    ignore_keys = {f"{classifier}.weight", f"{classifier}.bias"} \
        if classifier and model.num_classes != cfg.get("num_classes") else set()
    ignore_shapes = {f"{first_conv}.weight"} \
        if first_conv and model.in_chans != (cfg.get("input_size") or (3,))[0] else set()
    check_state_dict(
        {k: tuple(v.shape) for k, v in state_dict.items()},
        {k: tuple(v.shape) for k, v in model.state_dict().items()},
        source=_describe_source(cfg), architecture=cfg.get("architecture") or type(model).__name__,
        ignore_keys=ignore_keys, ignore_shapes=ignore_shapes)
    return state_dict


# ---------------------------------------------------------------------------------------------------------------
# pretrained loading through timm

def _env_folder(variant: str, cfg: PretrainedCfg) -> Optional[Path]:
    """``$RESNET_ZOO_WEIGHTS/<variant>.<tag>`` if the variable is set (whether or not that folder exists)."""
    root = os.environ.get(WEIGHTS_ENV)
    if not root or not cfg.tag:
        return None
    if not Path(root).is_dir():
        raise WeightsError(f"{WEIGHTS_ENV}={root} is not a folder")
    return Path(root) / weights_name(variant, cfg.tag)


def hub_file(hub_id: str, filename: str, cache_dir: Optional[PathLike] = None) -> Path:
    """``filename`` of the Hub repo ``hub_id`` (``ORG/NAME[@REVISION]``), fetched with ``huggingface_hub`` into its
    cache (``HF_HUB_OFFLINE`` reads the cache only); its errors (a missing file, no network) pass through."""
    repo_id, _, revision = hub_id.partition("@")
    return Path(hf_hub_download(repo_id, filename, revision=revision or None, cache_dir=cache_dir, **HUB_CLIENT))


def _download(hub_id: str, filename: Optional[str], cache_dir: Optional[PathLike]) -> Path:
    """Fetch weights from the Hub (or the local Hugging Face cache) with ``huggingface_hub``.

    Returns:
        The cached file ``filename`` if given, else the cached snapshot folder holding ``model.safetensors``
        or, failing that, ``model.safetensors.index.json`` and all its shards.
    """
    fetch = partial(hub_file, hub_id, cache_dir=cache_dir)
    if filename:
        return fetch(filename)
    try:
        return fetch(SAFE_WEIGHTS_NAME).parent
    except EntryNotFoundError as single_error:
        try:
            index = fetch(SAFE_WEIGHTS_INDEX_NAME)
        except EntryNotFoundError:
            raise WeightsError(f"hf-hub:{hub_id}: neither {SAFE_WEIGHTS_NAME} nor {SAFE_WEIGHTS_INDEX_NAME} "
                               f"could be fetched ({single_error})") from None
    for name in _shard_names(index):
        fetch(name)
    return index.parent


def _locate(variant: str, cfg: PretrainedCfg, overlay: Mapping[str, Any],
            cache_dir: Optional[PathLike]) -> Optional[Path]:
    """Local weights file or folder for ``cfg``; ``None`` where timm reads the weights itself (a url)."""
    if cfg.file:
        return Path(cfg.file)
    if not cfg.source and not any(overlay.get(k) for k in SOURCE_KEYS):
        folder = _env_folder(variant, cfg)
        if folder is not None:
            if not folder.is_dir():  # an error at once, not a minute of Hub connection retries
                hub = f"; unset {WEIGHTS_ENV} to fetch them from hf-hub:{cfg.hf_hub_id}" if cfg.hf_hub_id else ""
                raise WeightsError(f"{WEIGHTS_ENV}={folder.parent} has no {folder.name}/{hub}")
            return folder
    if cfg.hf_hub_id:
        return _download(cfg.hf_hub_id, cfg.hf_hub_filename, cache_dir)
    return None


def pretrained_overlay(
        variant: str,
        cfg: PretrainedCfg,
        overlay: Optional[Mapping[str, Any]] = None,
        cache_dir: Optional[PathLike] = None,
) -> Dict[str, Any]:
    """The ``pretrained_cfg_overlay`` that makes timm's ``load_pretrained`` read checked local weights.

    Where the weights are, first match: the caller's own source (``file``, ``state_dict``, …, or a
    ``local-dir:``/``hf-hub:`` model name), then ``$RESNET_ZOO_WEIGHTS/<variant>.<tag>/`` (while the variable is
    set, a folder without that model is an error at once, not a Hub download), then the cfg's ``hf_hub_id``,
    fetched with ``huggingface_hub`` (so its cache and ``HF_HUB_OFFLINE`` apply). A single ``.safetensors`` file
    becomes ``file=`` after its header is checked; shards are read here and passed as ``state_dict=``, since timm
    reads single files only.
    Anything else (an in-memory state dict, a ``.pth`` file, a url) is left to timm as given.

    Args:
        variant: Model name without tag.
        cfg: The resolved pretrained cfg (registry cfg with the caller's overlay applied).
        overlay: The caller's ``pretrained_cfg_overlay``.
        cache_dir: Hugging Face cache folder to use instead of the default one.

    Returns:
        The caller's overlay, with ``file`` (or ``state_dict``) set and ``source`` cleared when the weights
        were located here; call `finish_pretrained_cfg` on the model afterwards.

    Raises:
        WeightsError: If the weights cannot be found, fetched or read.
    """
    overlay = dict(overlay or {})
    try:
        location = None if cfg.state_dict is not None else _locate(variant, cfg, overlay, cache_dir)
        if location is None or location.is_file() and location.suffix != ".safetensors":
            return overlay
        files = weight_files(location)
        if len(files) == 1:
            read_metadata(files[0])
            return dict(overlay, file=str(files[0]), source=None)
        return dict(overlay, file=str(location), state_dict=read_state_dict(files), source=None)
    except WeightsError as e:
        raise WeightsError(f"pretrained weights for {variant}: {e}") from None


def finish_pretrained_cfg(model: torch.nn.Module, cfg: PretrainedCfg) -> None:
    """Undo the loading-only parts of `pretrained_overlay` in ``model.pretrained_cfg``.

    Puts back the cfg's ``source`` and drops a ``state_dict`` that `pretrained_overlay` added (the weights
    are in the model now; the cfg keeps ``file`` to say where they came from).
    """
    if cfg.state_dict is None:
        model.pretrained_cfg.pop("state_dict", None)
    if cfg.source:
        model.pretrained_cfg["source"] = cfg.source
