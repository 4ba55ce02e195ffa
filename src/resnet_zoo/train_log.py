"""The training log: one JSON object per epoch, written by `resnet_zoo.run`, read by the export and its card."""
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from .checkpoint import write_atomic
from .errors import ZooError, is_number

TRAIN_LOG_NAME = "train_log.jsonl"
"""File name of the log, in a run folder and in an exported Hub folder."""

LOG_KEYS = ("epoch", "train_loss", "lr", "train_top1", "test_top1", "test_top5", "test_loss", "img_per_s",
            "wall_s")
"""Keys of each line (one epoch), in the order they are written."""


def write_train_log(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``path`` atomically by one JSON line per record."""
    text = "".join(json.dumps(dict(record)) + "\n" for record in records)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def append_train_log(path: Path, record: Mapping[str, Any]) -> None:
    """Add one epoch's line at the end of ``path``."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(dict(record)) + "\n")


def read_train_log(path: Path) -> List[Dict[str, float]]:
    """The epochs of a training log, each checked to hold numbers for all `LOG_KEYS`.

    Raises:
        ZooError: If the file cannot be read, a line is not JSON or lacks a key, or it holds no epoch.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ZooError(f"training log {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ZooError(f"training log {path}: not a text file (UTF-8 JSON lines, one object per epoch)") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise ZooError(f"{path}:{number}: not JSON ({e})") from None
        bad = [k for k in LOG_KEYS if not isinstance(record, dict) or not is_number(record.get(k))]
        if bad:
            raise ZooError(f"{path}:{number}: needs numbers for {', '.join(bad)} (keys: {', '.join(LOG_KEYS)})")
        records.append(record)
    if not records:
        raise ZooError(f"training log {path} holds no epochs")
    return records
