"""Time budgets of training sittings: ``--time-budget 2h20m`` read, and the clock that decides whether an epoch
still fits.

A sitting with a `Budget` starts an epoch only if the slowest of its last whole epochs (training, evaluation and
checkpoints), with a margin, still fits, and gives up an epoch it has started once the epoch and its evaluation
would end past the deadline even if its remaining steps went at the better of their own pace and the pace of the
sitting's recent epochs (its next step as slow as its slowest); the state of the last finished epoch stays. So a
while of slow steps (others loading the machine) does not end a sitting that still has time for the epoch, and a
sitting ends within its budget unless one step or evaluation takes longer than any before it.
"""
import re
import time
from typing import Callable, List, Optional

from .errors import ZooError

DURATION = re.compile(r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?:in)?)?(?:(?P<s>\d+(?:\.\d+)?)s)?")
"""A duration such as ``2h20m``, ``90m``, ``1.5h`` or ``45s``."""

WARMUP_STEPS = 3
"""Steps whose pace does not count in an epoch's projection (the first steps build kernels and caches); at most
the first half of an epoch's steps."""
MARGIN = 1.1
"""Factor on the time an epoch or its evaluation took before, for the next one (a shared machine's pace varies)."""
RECENT = 3
"""Whole epochs, the last ones, whose slowest decides whether the next one is started."""
FIRST_TAIL = 0.25
"""Before an evaluation has been timed, the time kept for it and the checkpoints, as a fraction of the epoch's
training pass (a test split of a fifth of the train images, forward only, needs far less)."""


def parse_duration(text: str) -> float:
    """Seconds of ``text``: hours, minutes and seconds (``2h20m``, ``90m``, ``45s``) or a plain number of seconds.

    Raises:
        ZooError: If ``text`` is not such a duration, or not above zero.
    """
    text = str(text).strip().lower().replace(" ", "")
    match = DURATION.fullmatch(text)
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    elif text and match:
        seconds = sum(float(match[unit] or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))
    else:
        raise ZooError(f"--time-budget {text!r} is not a duration: give hours, minutes and seconds, e.g. 2h20m, 90m "
                       f"or 45s")
    if seconds <= 0:
        raise ZooError(f"--time-budget {text!r} must be above zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``1 h 02 min (3725 s)``."""
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min ({seconds:.0f} s)"


class BudgetTooShort(ZooError):
    """Not even one epoch fits in the time budget."""


class Budget:
    """The time budget of one sitting, counted from ``start``.

    Args:
        seconds: The budget.
        start: When the sitting started, on ``clock`` (default: now).
        clock: Seconds of a monotonic clock.
    """

    def __init__(self, seconds: float, start: Optional[float] = None, clock: Callable[[], float] = time.perf_counter):
        self.seconds = seconds
        self.clock = clock
        self.deadline = (clock() if start is None else start) + seconds
        self.epochs: List[float] = []  # whole epochs of this sitting, training to checkpoint
        self.tails: List[float] = []  # evaluation and checkpoints after an epoch's training pass
        self.paces: List[float] = []  # seconds a step of each whole epoch's training pass
        self._steps = 0
        self._epoch_start = self._base_time = 0.
        self._base_steps = 0
        self.projection = 0.
        """The last projection of the epoch in progress (seconds), as `stop` made it."""

    def next_epoch_fits(self) -> bool:
        """Whether the slowest of this sitting's last `RECENT` whole epochs, with a `MARGIN`, still fits (before the
        first: it may). Epochs that others slowed down long ago do not count; the epoch itself still gives up
        when its own pace says it would not end in time."""
        return not self.epochs or self.clock() + MARGIN * max(self.epochs[-RECENT:]) <= self.deadline

    def start_epoch(self) -> None:
        """Mark the start of an epoch's training pass."""
        self._epoch_start = self._base_time = self._last_step = self.clock()
        self._base_steps = 0
        self._slowest = 0.

    def projected_epoch(self, done: int, total: int) -> float:
        """Seconds the whole epoch will take, projected from the pace of its first ``done`` of ``total`` steps
        (past its warm-up steps, `WARMUP_STEPS`) or of the last `RECENT` whole epochs, whichever is faster, with
        its slowest step for the next one, and the time its evaluation took before."""
        now = self.clock()
        timed = done - self._base_steps
        pace = (now - self._base_time) / timed if timed > 0 else (now - self._epoch_start) / max(done, 1)
        steady = min([pace, *self.paces[-RECENT:]])
        remaining = total - done
        training = now - self._epoch_start + (steady * (remaining - 1) + max(pace, self._slowest) if remaining else 0.)
        return training + (MARGIN * max(self.tails) if self.tails else FIRST_TAIL * training)

    def stop(self, done: int, total: int) -> bool:
        """Whether to give up the epoch after ``done`` of its ``total`` steps because it would end past the
        deadline (during its warm-up steps only once the deadline has passed)."""
        now = self.clock()
        self._steps = total
        warmup = min(WARMUP_STEPS, (total - 1) // 2)  # of a short epoch too, its first half at most
        warming_up = done <= warmup
        if not warming_up:
            self._slowest = max(self._slowest, now - self._last_step)
        self._last_step = now
        self.projection = self.projected_epoch(done, total)
        if done == warmup:
            self._base_time, self._base_steps = now, done
        if warming_up:
            return now > self.deadline
        return self._epoch_start + self.projection > self.deadline

    def end_epoch(self, training_end: float) -> None:
        """Record the epoch that started at `start_epoch`, its training pass having ended at ``training_end``."""
        now = self.clock()
        self.epochs.append(now - self._epoch_start)
        self.tails.append(now - training_end)
        if self._steps:
            self.paces.append((training_end - self._epoch_start) / self._steps)
