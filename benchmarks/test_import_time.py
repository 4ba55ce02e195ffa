"""What resnet_zoo costs at import: the registration on top of ``import timm``, the start-up hook, the CLI.

Each round is a fresh interpreter of this environment run with ``-X importtime``, with bytecode caching on as
in a normal install (the warm-up round writes any missing ``.pyc``). The benchmark times the whole
interpreter; ``extra_info`` records medians (in ms) of the import-time entries that isolate the cost:

* ``registration_ms``: cumulative import time of ``resnet_zoo.resnet`` when the hook imports it right after
  timm, i.e. everything registration adds on top of ``import timm`` (budget: `REGISTRATION_BUDGET_MS`);
* ``startup_hook_ms``: cumulative import time of ``resnet_zoo_autoload`` in ``python -c pass``, the hook's
  whole cost in every interpreter start-up of the environment (budget: `STARTUP_BUDGET_MS`);
* ``cli_ms``: cumulative import time of ``resnet_zoo.commands.cli`` for ``resnet-zoo --help``, which imports
  neither torch nor timm (budget: `CLI_BUDGET_MS`);
* ``help_ms``: the wall time of the whole interpreter that answers ``resnet-zoo COMMAND --help``, for every
  command, which imports neither torch nor timm either (budget: `HELP_BUDGET_MS`).

A timed run (not ``--benchmark-disable``) fails when a median exceeds its budget.
"""
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import pytest

import resnet_zoo_autoload
from resnet_zoo.commands.cli import COMMANDS

REGISTRATION_BUDGET_MS = 50.0
STARTUP_BUDGET_MS = 2.0
CLI_BUDGET_MS = 100.0
HELP_BUDGET_MS = 500.0
ROUNDS = 3

IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def importtime(code: str, env: Optional[Dict[str, str]] = None) -> Dict[str, float]:
    """Cumulative import time (ms) of each module imported by ``python -X importtime -c code``.

    Raises:
        subprocess.CalledProcessError: If ``code`` fails.
    """
    unset = (resnet_zoo_autoload.DISABLE_ENV, "PYTHONDONTWRITEBYTECODE")
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env={**full_env, **(env or {})},
                          capture_output=True, text=True, check=True)
    times = {}
    for line in proc.stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            times[match.group(4)] = int(match.group(2)) / 1000
    return times


def run_rounds(benchmark, code: str, env: Optional[Dict[str, str]] = None) -> List[Dict[str, float]]:
    """Benchmark ``ROUNDS`` interpreters running ``code`` (one with ``--benchmark-disable``).

    Returns:
        The import times of each timed round (the warm-up round left out).
    """
    runs = []
    benchmark.pedantic(lambda: runs.append(importtime(code, env)), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    return runs[-ROUNDS:]


def median_ms(runs: List[Dict[str, float]], module: str) -> float:
    """Median cumulative import time of ``module``; fails if a run did not import it."""
    missing = sum(module not in run for run in runs)
    assert not missing, f"{module} was not imported in {missing} of {len(runs)} runs (is resnet-zoo installed " \
                        f"with its .pth, e.g. `pip install -e .`?)"
    return round(statistics.median(run[module] for run in runs), 3)


def check_budget(benchmark, name: str, ms: float, budget_ms: float) -> None:
    """Record ``NAME_ms`` and its budget in ``extra_info``; a timed run fails if ``ms`` is over budget."""
    benchmark.extra_info.update({f"{name}_ms": ms, f"{name}_budget_ms": budget_ms,
                                 f"{name}_within_budget": ms < budget_ms})
    if not benchmark.disabled:
        assert ms < budget_ms, f"{name} took {ms} ms (budget: {budget_ms} ms)"


def assert_not_imported(runs: List[Dict[str, float]], modules: Sequence[str]) -> None:
    """Fail if a run imported one of ``modules``."""
    for module in modules:
        assert not any(module in run for run in runs), f"{module} was imported"


def test_import_timm_without_resnet_zoo(benchmark):
    """Baseline: a fresh interpreter that imports timm, with the hook turned off."""
    runs = run_rounds(benchmark, "import timm", env={resnet_zoo_autoload.DISABLE_ENV: "1"})
    assert_not_imported(runs, ["resnet_zoo"])
    benchmark.extra_info.update(timm_ms=median_ms(runs, "timm"))


def test_import_timm_registers_resnet_zoo(benchmark):
    """``import timm`` with the hook: registration runs once timm is imported, and is timed on its own."""
    runs = run_rounds(benchmark, "import timm")
    benchmark.extra_info.update(timm_ms=median_ms(runs, "timm"))
    check_budget(benchmark, "registration", median_ms(runs, resnet_zoo_autoload.REGISTRY_MODULE),
                 REGISTRATION_BUDGET_MS)


def test_interpreter_startup_with_hook(benchmark):
    """``python -c pass``: the hook installs itself and imports nothing heavy."""
    runs = run_rounds(benchmark, "pass")
    assert_not_imported(runs, ["torch", "timm", "resnet_zoo"])
    check_budget(benchmark, "startup_hook", median_ms(runs, "resnet_zoo_autoload"), STARTUP_BUDGET_MS)


def test_cli_help(benchmark):
    """``resnet-zoo --help``: the CLI and its package import neither torch nor timm."""
    runs = run_rounds(benchmark, "from resnet_zoo.commands.cli import main; main(['--help'])")
    assert_not_imported(runs, ["torch", "timm"])
    check_budget(benchmark, "cli", median_ms(runs, "resnet_zoo.commands.cli"), CLI_BUDGET_MS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help(benchmark, command):
    """``resnet-zoo COMMAND --help``: a fresh interpreter answers at once, its options imported without torch."""
    timed = []

    def answer_help() -> None:
        start = time.perf_counter()
        times = importtime(f"from resnet_zoo.commands.cli import main; main([{command!r}, '--help'])")
        timed.append((times, (time.perf_counter() - start) * 1000))

    benchmark.pedantic(answer_help, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert_not_imported([times for times, _ in timed[-ROUNDS:]], ["torch", "timm"])
    check_budget(benchmark, "help", round(statistics.median(ms for _, ms in timed[-ROUNDS:]), 1), HELP_BUDGET_MS)
