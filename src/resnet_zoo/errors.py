"""Errors raised for bad input: each message names the file, model or value at fault and what was expected."""
import numbers
from typing import Any, Iterable, Tuple


class ZooError(Exception):
    """Base class of resnet_zoo's user-facing errors; the CLI prints the message and exits 1."""


class WeightsError(ZooError, ValueError):
    """A weights file or Hub folder is missing, corrupt, or does not fit the architecture."""


class DataError(ZooError, ValueError):
    """A dataset folder is missing files or holds data of the wrong form."""


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number, and not a bool (JSON's ``true``, which Python counts as 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_options(checks: Iterable[Tuple[bool, str]]) -> None:
    """Raise one `ZooError` that joins the message of every check ``(ok, message)`` that failed, e.g.
    ``(lr > 0, "--lr must be positive")``, so that a command names all its bad options at once, before any work."""
    errors = [message for ok, message in checks if not ok]
    if errors:
        raise ZooError("; ".join(errors))
