"""glibc's malloc thresholds, pinned so that memory a step frees serves the next step.

glibc adapts its mmap and trim thresholds to the blocks a process frees. A training step on the CPU frees its
activations at the end of the backward pass, and many processes then give them back to the kernel and fault every
page in again in the next step. In the zoo's cifar_resnet56 run (bf16, compiled, a 2-core Intel Xeon), about
87,000 minor page faults a second and 308-346 img/s; continued with the thresholds pinned, almost none and
398-506 img/s. `keep_freed_memory` pins them, as the environment variables ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` would, for the process it runs in; the ``resnet-zoo`` commands call it first.
"""
import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (``malloc.h``)."""
MMAP_THRESHOLD = 32 * 2 ** 20
"""Blocks from this size up are mapped for themselves and unmapped when freed: glibc's largest threshold."""
TRIM_THRESHOLD = 2 ** 30
"""Free memory at the top of the heap that glibc keeps before it gives the rest back to the kernel."""
ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
"""The variables that set the thresholds at start-up; where one is set, `keep_freed_memory` leaves them."""


def keep_freed_memory() -> bool:
    """Pin glibc's mmap threshold (`MMAP_THRESHOLD`) and trim threshold (`TRIM_THRESHOLD`) in this process.

    Returns:
        Whether they were pinned: not where the environment sets either (`ENVIRONMENT`), nor under a C library
        without glibc's ``mallopt`` (macOS, Windows, musl).
    """
    if any(name in os.environ for name in ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # no such symbol, or no process-wide symbol table (Windows)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
