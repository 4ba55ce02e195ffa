"""The weights in the repository's ``hub/`` folder, one verified Hub model folder per ``<model>.<tag>``."""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from resnet_zoo.cards import CARD_NAME, SOURCE_LABEL, read_card
from resnet_zoo.errors import WeightsError
from resnet_zoo.hub import CONFIG_NAME, verify
from resnet_zoo.resnet import architecture_options


@dataclass(frozen=True)
class Published:
    """One weights folder of ``hub/``, as its model card and weight-file header describe it.

    Attributes:
        architecture: resnet_zoo model name.
        tag: Pretrained tag.
        folder: The folder.
        dataset: Dataset of the metrics (``None`` if the header records none).
        metrics: ``top1``/``top5``/``loss`` of the card (may be empty).
        recipe: Training recipe recorded in the weights' header (``None`` for converted weights).
        details: The rows of the card's details table (``"Training wall time"``, ``"Training hardware"``, …).
        command: The exact training command of the card (``None`` if it records none).
        sittings: The sittings of the card's training section (`resnet_zoo.cards.CardFacts.sittings`).
        model_args: The architecture options of ``config.json`` (`resnet_zoo.resnet.architecture_options`, e.g.
            ``{"shortcut": "A"}``; ``{}``: the registered architecture).
    """

    architecture: str
    tag: str
    folder: Path
    dataset: Optional[str]
    metrics: Mapping[str, float]
    recipe: Optional[Mapping]
    details: Mapping[str, str]
    command: Optional[str]
    sittings: Sequence[Mapping[str, Any]]
    model_args: Mapping[str, Any]

    @property
    def name(self) -> str:
        """``<architecture>.<tag>``, the folder's and the Hub repo's name."""
        return f"{self.architecture}.{self.tag}"

    @property
    def source(self) -> Optional[str]:
        """Where weights made elsewhere come from (the card's Source row, Markdown); ``None`` if not recorded."""
        return self.details.get(SOURCE_LABEL)


def read_published(hub_dir: Path) -> Dict[str, Published]:
    """Every weights folder of ``hub_dir`` (hidden entries and files skipped), checked with `verify`.

    Args:
        hub_dir: The repository's ``hub/`` folder; a missing folder holds nothing.

    Returns:
        The folders' `Published` by ``<model>.<tag>``.

    Raises:
        WeightsError: If a folder does not verify, or is not named ``<architecture>.<tag>`` of what it holds.
    """
    if not hub_dir.is_dir():
        return {}
    found = {}
    for folder in sorted(p for p in hub_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        info = verify(folder)
        name = f"{info['architecture']}.{info['tag']}"
        if folder.name != name:
            raise WeightsError(f"{folder}: holds {name}; a hub/ folder is named <architecture>.<tag>")
        card = read_card(folder / CARD_NAME)
        recipe = info["metadata"].get("recipe")
        found[name] = Published(
            architecture=info["architecture"], tag=info["tag"], folder=folder,
            dataset=info["metadata"].get("dataset"), metrics=info["metrics"],
            recipe=json.loads(recipe) if recipe is not None else None,
            details=card.details, command=card.command, sittings=card.sittings,
            model_args=architecture_options(
                json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8")).get("model_args", {})))
    return found
