"""A training run kept in its Hub model folder, so that any machine continues it.

Beside the weights it ships, a model folder (``hub/MODEL.TAG``, one Hub repo) holds the state of the run in
progress in the sub-folder `resnet_zoo.constants.LAST_CHECKPOINT`, which `resnet_zoo.run.train` replaces after
every epoch:

* ``checkpoint.safetensors``: the trained model (``model.``) and its EMA (``ema.``) as float32 tensors, and the
  run's state as JSON metadata (recipe, epochs done, log, tag, classes and sittings), in the layout of a
  run folder's checkpoint (`resnet_zoo.checkpoint`) less the optimizer and the random generators, so that it is
  twice the size of the weights;
* ``train_log.jsonl``: the run's epochs;
* ``README.md``: how far the run got, its sittings, and the command that continues it.

It is not a registered tag: the shipped ``model.safetensors`` stays until the finished run scores higher.
`read_run_state` reads it from a local folder or, as ``hf-hub:ORG/NAME[@REVISION]``, through huggingface_hub (its
cache and ``HF_HUB_OFFLINE`` apply). A run continued from it restarts what it does not carry: the optimizer's
momentum starts at zero and the data order is drawn from a generator seeded by `data_seed` with the recipe's seed
and the epoch; the learning rate of every step is the one the uninterrupted schedule gives.
"""
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

from .budget import format_duration
from .checkpoint import EMA_PREFIX, MODEL_PREFIX, load_checkpoint, save_checkpoint, take_prefix
from .constants import CHECKPOINT_FILE, LAST_CHECKPOINT
from .errors import WeightsError, ZooError
from .files import created_folders, replace_folder
from .pretrained import weights_name
from .train_log import TRAIN_LOG_NAME, write_train_log
from .weights import check_state_dict, hub_file

RUN_README = "README.md"
"""The run's summary in `LAST_CHECKPOINT`."""
RUN_FILES = (CHECKPOINT_FILE, TRAIN_LOG_NAME, RUN_README)
"""The files of `LAST_CHECKPOINT`, all of them."""
HUB_PREFIX = "hf-hub:"
"""Prefix of a Hub repo id given as a run's source, as timm writes model names."""

RESTARTS = ("the optimizer's momentum starts at zero and the data order is reseeded from the recipe's seed and "
            "the epoch")
"""What a sitting continued from a model folder restarts, as cards say."""


def run_state_file(folder: Path) -> Path:
    """The checkpoint of the run kept in the model folder ``folder``."""
    return folder / LAST_CHECKPOINT / CHECKPOINT_FILE


def is_hub_id(source: str) -> bool:
    """Whether a run's ``source`` names a Hub repo (``hf-hub:ORG/NAME``) rather than a local folder."""
    return str(source).startswith(HUB_PREFIX)


def data_seed(seed: int, epoch: int) -> int:
    """Seed of the data generator of a run continued from a model folder after ``epoch`` epochs: its own stream
    for every (seed, epoch), so that sittings do not repeat each other's order."""
    return seed + 1_000_003 * epoch


def save_run_state(folder: Path, tensors: Mapping[str, torch.Tensor], state: Dict[str, Any],
                   continue_with: str) -> None:
    """Replace ``folder``'s `LAST_CHECKPOINT` by the run state ``tensors`` (only the ``model.`` and ``ema.`` ones
    are kept) and ``state``, atomically: a killed process leaves the old sub-folder or the new one (and a hidden
    partial folder, which the next save removes).

    Args:
        folder: The model folder (created if missing).
        tensors: The run's checkpoint tensors (`resnet_zoo.engine.Training.state_tensors`).
        state: The run's JSON state; its ``history`` becomes ``train_log.jsonl``.
        continue_with: The command that continues the run, for its README.
    """
    kept = {k: v for k, v in tensors.items() if k.startswith((MODEL_PREFIX, EMA_PREFIX))}
    with created_folders(folder):
        for stale in [*folder.glob(f".{LAST_CHECKPOINT}.*.partial"), *folder.glob(f".{LAST_CHECKPOINT}.*.old")]:
            shutil.rmtree(stale, ignore_errors=True)  # what a process killed while saving left
        staged = folder / f".{LAST_CHECKPOINT}.{uuid.uuid4().hex[:12]}.partial"
        staged.mkdir()
        try:
            save_checkpoint(staged / CHECKPOINT_FILE, kept, state)
            write_train_log(staged / TRAIN_LOG_NAME, state["history"])
            (staged / RUN_README).write_text(run_readme(state, continue_with), encoding="utf-8")
            replace_folder(staged, folder / LAST_CHECKPOINT)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def run_state_path(source: str) -> Path:
    """The checkpoint of the run kept in a model folder, or in a Hub repo ``hf-hub:ORG/NAME[@REVISION]`` (fetched
    into huggingface_hub's cache).

    Raises:
        ZooError: If the source holds no run state, or (a Hub repo) it cannot be fetched.
    """
    if is_hub_id(source):
        try:
            return hub_file(str(source)[len(HUB_PREFIX):], f"{LAST_CHECKPOINT}/{CHECKPOINT_FILE}")
        except LocalEntryNotFoundError:  # before its base class: nothing was asked of the Hub
            raise ZooError(f"--resume {source}: its run state could not be fetched: it is not in huggingface_hub's "
                           f"cache, and the Hub is offline (HF_HUB_OFFLINE) or unreachable") from None
        except EntryNotFoundError:
            raise ZooError(f"--resume {source}: holds no run state ({LAST_CHECKPOINT}/{CHECKPOINT_FILE})") from None
        except Exception as e:  # offline without a cached copy, an unknown repo, the network
            raise ZooError(f"--resume {source}: its run state could not be fetched ({type(e).__name__}: {e})") \
                from None
    folder = Path(source)
    if not folder.is_dir():
        raise ZooError(f"--resume {folder}: no such folder")
    path = run_state_file(folder)
    if not path.is_file():
        raise ZooError(f"--resume {folder}: holds no run state ({LAST_CHECKPOINT}/{CHECKPOINT_FILE}) nor a run "
                       f"folder's {CHECKPOINT_FILE}; a run keeps its state there with --hub-folder {folder}")
    return path


def read_run_state(source: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """The tensors and state of the run kept in a model folder or Hub repo (see `run_state_path`).

    Raises:
        ZooError: If the source holds no run state, or (a Hub repo) it cannot be fetched.
        WeightsError: If the state is not a readable resnet_zoo checkpoint with a model.
    """
    path = run_state_path(source)
    tensors, state = load_checkpoint(path)
    if not take_prefix(MODEL_PREFIX, tensors):
        raise WeightsError(f"{path}: holds no {MODEL_PREFIX}* tensors, so no model to continue")
    return tensors, state


def check_run_state(folder: Path, expected: Mapping[str, Tuple[int, ...]], architecture: str,
                    tag: Optional[str]) -> Dict[str, Any]:
    """Check the run kept in ``folder`` (for `resnet_zoo.hub.verify`): a readable checkpoint of ``architecture``
    (and ``tag``, where the folder has weights) whose model and EMA fit ``expected`` (name -> shape) and whose log
    has its epochs.

    Returns:
        The run's state.

    Raises:
        WeightsError: Naming the file and what is wrong with it.
    """
    path = run_state_file(folder)
    tensors, state = load_checkpoint(path)
    recipe = state.get("recipe") or {}
    if recipe.get("model") != architecture or (tag is not None and state.get("tag") != tag):
        raise WeightsError(f"{path}: holds a run of {recipe.get('model')}.{state.get('tag')}, not of the folder's "
                           f"{architecture}.{tag}")
    for prefix in (MODEL_PREFIX, EMA_PREFIX):
        part = take_prefix(prefix, tensors)
        if part or prefix == MODEL_PREFIX:
            check_state_dict({k: tuple(v.shape) for k, v in part.items()}, expected,
                             source=f"{path} ({prefix}*)", architecture=architecture)
    history = state.get("history") or []
    if state.get("epoch") != len(history) or not 1 <= len(history) <= recipe.get("epochs", 0):
        raise WeightsError(f"{path}: epoch {state.get('epoch')} with {len(history)} logged epochs of "
                           f"{recipe.get('epochs')}")
    return state


def run_readme(state: Mapping[str, Any], continue_with: str) -> str:
    """The README of `LAST_CHECKPOINT`: the run's progress, sittings, and the command that continues it."""
    recipe, history = state["recipe"], state["history"]
    name = weights_name(recipe["model"], state["tag"])
    final = history[-1]
    lines = [f"# {name}: run in progress", "",
             f"Epoch {state['epoch']} of {recipe['epochs']}; the EMA model's top-1 after it: "
             f"{final['test_top1']:.2f} % (top-5 {final['test_top5']:.2f} %"
             f"{', on the full test set' if recipe.get('test_subset') is None else ''}). These weights are not the "
             f"folder's shipped ones: the finished run replaces those only if it scores higher.", "",
             "Continue it:", "", "```bash", continue_with, "```", "",
             f"A sitting continued from this folder restarts what it does not carry: {RESTARTS}. The learning rate of "
             f"every step is the one the uninterrupted schedule gives.", "",
             *sittings_table(state.get("sittings") or []), "",
             f"Per-epoch log: [{TRAIN_LOG_NAME}]({TRAIN_LOG_NAME})", ""]
    return "\n".join(lines)


SITTING_STARTS = {"new": "new run", "exact": "resumed its run folder", "hub": "continued from the model folder"}
"""How a sitting started, as its row says."""


def sittings_table(sittings: List[Mapping[str, Any]]) -> List[str]:
    """The Markdown table of a run's sittings: epochs, hardware, precision, resnet_zoo commit, wall time, start."""
    rows = [f"| {_epochs(s)} | {s['hardware']} | {_precision(s)} | "
            f"{_short(s['commit'])} | {format_duration(s['wall_s'])} | {SITTING_STARTS.get(s['start'], s['start'])} |"
            for s in sittings]
    return ["| Epochs | Hardware | Precision | resnet_zoo commit | Wall time | Start |", "|---|---|---|---|---|---|",
            *rows] if rows else []


SITTING_ROW = re.compile(r"^\| (?P<first>\d+)(?:–(?P<last>\d+))? \| [^\n]* \| (?P<start>[^|\n]+) \|$", re.M)
"""A row of `sittings_table`: its epochs (``8`` or ``8–57``), …, and how the sitting started."""


def read_sittings_table(text: str) -> List[Dict[str, Any]]:
    """``first_epoch``, ``last_epoch`` and ``start`` (a `SITTING_STARTS` key) of each row of the `sittings_table`
    in ``text`` (a model card or a run's README)."""
    starts = {label: key for key, label in SITTING_STARTS.items()}
    return [dict(first_epoch=int(m["first"]), last_epoch=int(m["last"] or m["first"]), start=starts[m["start"]])
            for m in SITTING_ROW.finditer(text) if m["start"] in starts]


def _epochs(sitting: Mapping[str, Any]) -> str:
    """A sitting's epochs: ``8`` or ``8–57``."""
    first, last = sitting["first_epoch"], sitting["last_epoch"]
    return str(first) if first == last else f"{first}–{last}"


def _precision(sitting: Mapping[str, Any]) -> str:
    """A sitting's precision, with the probe that chose it and whether its step was compiled
    (``bf16 (auto, probed: …), compiled``)."""
    probe = f" ({sitting['probe']})" if sitting.get("probe") else ""
    return f"{sitting['precision']}{probe}{', compiled' if sitting.get('compiled') else ''}"


def _short(commit: str) -> str:
    """A commit as tables show it: 12 hex digits, and ``-dirty`` where the checkout had changes."""
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")
