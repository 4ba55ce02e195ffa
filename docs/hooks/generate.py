"""mkdocs hook: fills each page's ``<!-- generated: NAME -->`` lines at build time.

Nothing in the generated sections is copied by hand: model sizes and costs come from the models timm builds,
accuracies, commands and training times from the verified folders of ``hub/``, recipe defaults from
``resnet_zoo.recipe`` and ``resnet_zoo.commands.train``, datasets from ``resnet_zoo.cifar``/``resnet_zoo.imagefolder``,
option lists from the CLI's parsers and benchmark tables from ``benchmarks/report.py``. The hook also fails the
build when a public module is missing from the API reference.
"""
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

import model_table
import reference_sections
import training_tables
from published import Published, read_published

MARKER = re.compile(r"^<!--[ \t]*generated:[ \t]*(?P<name>[\w-]+)[ \t]*-->[ \t]*$", re.M)
"""A line the hook replaces by a generated section."""

API_DIR = "api/"
"""Folder of the API reference pages, relative to ``docs/``."""


class Sources:
    """What the generated sections are made from, read once per build and only when a page asks for it.

    Args:
        root: The repository (the folder of ``mkdocs.yml``).
    """

    def __init__(self, root: Path):
        self.root = root
        self._facts: Optional[List[model_table.ModelFacts]] = None
        self._published: Optional[Dict[str, Published]] = None

    @property
    def facts(self) -> List[model_table.ModelFacts]:
        """`model_table.ModelFacts` of every resnet_zoo model."""
        if self._facts is None:
            self._facts = [model_table.model_facts(name) for name in model_table.zoo_models()]
        return self._facts

    @property
    def published(self) -> Dict[str, Published]:
        """The verified weights folders of ``hub/``."""
        if self._published is None:
            self._published = read_published(self.root / "hub")
        return self._published

    def generators(self) -> Dict[str, Callable[[], str]]:
        """Marker name -> function that returns the section's Markdown."""
        return {
            "models": lambda: model_table.models_table(self.facts, self.published),
            "layouts": lambda: model_table.layout_table(self.facts),
            "recipe": training_tables.recipe_table,
            "datasets": training_tables.datasets_table,
            "training-runs": lambda: training_tables.training_runs(self.published),
            "run-boundaries": lambda: training_tables.run_boundaries(self.published),
            "commands": reference_sections.commands_reference,
            "benchmarks": lambda: reference_sections.benchmark_reports(self.root),
        }


_sources: Optional[Sources] = None


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Start a build: forget what the previous one (``mkdocs serve``) read."""
    global _sources
    _sources = Sources(Path(config.config_file_path).resolve().parent)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Fail the build if a public module has no ``::: module`` directive in the API reference pages."""
    pages = [f.content_string for f in files.documentation_pages() if f.src_uri.startswith(API_DIR)]
    missing = reference_sections.missing_api_modules(pages)
    if missing:
        raise PluginError(f"the API reference (docs/{API_DIR}) does not document {', '.join(missing)}: "
                          f"add a '::: module' line for each")
    return files


def fill_markers(markdown: str, generators: Dict[str, Callable[[], str]], where: str) -> str:
    """``markdown`` with every marker line replaced by its generator's output.

    Args:
        markdown: A page's Markdown.
        generators: Marker name -> function that returns its section.
        where: The page, named in errors.

    Raises:
        PluginError: For an unknown marker or one whose generator fails, naming the page and the marker.
    """
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in generators:
            raise PluginError(f"{where}: unknown marker {match[0].strip()!r}; known: {', '.join(generators)}")
        try:
            return generators[name]()
        except Exception as e:
            raise PluginError(f"{where}: {match[0].strip()} failed: {type(e).__name__}: {e}") from e

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Fill the page's markers."""
    return fill_markers(markdown, _sources.generators(), f"docs/{page.file.src_uri}")
