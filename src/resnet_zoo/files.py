"""Folders the commands write into: checked before any work, and removed again when the work that created them fails.

`check_writable` lets ``train``, ``export`` and ``convert`` refuse an output path they could not write before they
train or convert anything; `created_folders` lets a download or an export that fails leave no folder behind that
it made; `replace_folder` puts a complete folder in another's place.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from .errors import ZooError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the current folder for a relative path with none)."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def check_writable(folder: Union[str, Path], option: str) -> Path:
    """``folder`` as a `Path`, once it is known that a folder can be created (or written) there.

    Args:
        folder: The folder a command will write.
        option: The option or argument that named it, for the message (``"--out"``).

    Raises:
        ZooError: If ``folder`` or a folder on its way is a file, or the nearest one that exists cannot be
            written.
    """
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies inside the file {existing}"
        raise ZooError(f"{option} {folder}: {where}; give a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ZooError(f"{option} {folder}: cannot write in {existing} (permission denied); choose another folder")
    return folder


@contextmanager
def created_folders(folder: Union[str, Path]) -> Iterator[Path]:
    """Create ``folder`` and its missing parents; if the ``with`` block fails, remove those it created.

    Yields:
        ``folder``, as a `Path`.
    """
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)  # the outermost folder created, with all inside it
        raise


def replace_folder(staged: Path, folder: Path) -> None:
    """Move the complete folder ``staged`` to ``folder``; an old ``folder`` is moved aside, then deleted, and
    moved back if the move fails, so ``folder`` is always the old folder or the new one."""
    if not folder.exists():
        os.replace(staged, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    try:
        os.replace(folder, old / folder.name)
        try:
            os.replace(staged, folder)
        except BaseException:
            os.replace(old / folder.name, folder)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
