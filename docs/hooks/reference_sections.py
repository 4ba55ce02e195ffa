"""Reference sections: each command's ``--help``, the benchmark tables, and the API reference's coverage."""
import argparse
import importlib.util
import json
import pkgutil
import re
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Iterable, List

import resnet_zoo
from resnet_zoo.commands.cli import COMMANDS, command_module

from md_format import fenced

HELP_WIDTH = 100
"""Line width of the ``--help`` texts (fixed, so the pages do not depend on the terminal that builds them)."""

MKDOCSTRINGS_ID = re.compile(r"^:::\s+(?P<id>[\w.]+)\s*$", re.M)
"""A mkdocstrings directive, ``::: resnet_zoo.hub``."""

AUTOLOAD_MODULE = "resnet_zoo_autoload"
"""The start-up hook module installed beside the package (public: it is what ``import timm`` runs)."""


def command_help(name: str) -> str:
    """``resnet-zoo NAME --help``, from a parser built the way the CLI builds it (the command module's ``arguments``).

    Raises:
        KeyError: If ``name`` is not one of the CLI's commands.
    """
    description = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"resnet-zoo {name}", description=description,
                                     formatter_class=partial(argparse.HelpFormatter, width=HELP_WIDTH))
    command_module(name).arguments(parser)
    return parser.format_help()


def commands_reference() -> str:
    """One section per command of the CLI, in the CLI's order: a ``## resnet-zoo NAME`` heading and its help."""
    return "\n\n".join(f"## resnet-zoo {name}\n\n{fenced(command_help(name), 'text')}" for name in COMMANDS)


def public_modules() -> List[str]:
    """Every public module: ``resnet_zoo``, its modules whose names do not start with ``_``, and the autoload."""
    names = [resnet_zoo.__name__] + [
        info.name for info in pkgutil.walk_packages(resnet_zoo.__path__, prefix=f"{resnet_zoo.__name__}.")
        if not any(part.startswith("_") for part in info.name.split("."))]
    return names + [AUTOLOAD_MODULE]


def missing_api_modules(pages: Iterable[str]) -> List[str]:
    """The `public_modules` that no ``::: module`` directive of the API reference ``pages`` (Markdown) documents."""
    documented = {m["id"] for page in pages for m in MKDOCSTRINGS_ID.finditer(page)}
    return [name for name in public_modules() if name not in documented]


def _load_script(path: Path) -> ModuleType:
    """Import the script ``path`` (``benchmarks/`` is not a package) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_reports(root: Path) -> str:
    """The tables ``benchmarks/report.py`` makes of each JSON in ``benchmarks/results/``, headings one level down.

    Args:
        root: The repository.

    Returns:
        The reports, by file name, or a note that no results are committed yet.

    Raises:
        ValueError: If ``report.py`` cannot make a report of a results file (it says why).
    """
    results = sorted((root / "benchmarks" / "results").glob("*.json"))
    if not results:
        return "No benchmark results are committed yet."
    report = _load_script(root / "benchmarks" / "report.py")
    sections = []
    for path in results:
        try:
            text = report.markdown_report(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError) as e:
            raise ValueError(f"benchmarks/report.py cannot report {path}: {e}") from None
        title, body = re.sub(r"^#", "##", text, flags=re.M).split("\n", 1)
        sections.append(f"{title}\n\nFrom `benchmarks/results/{path.name}`.\n{body}")
    return "\n\n".join(sections)
