"""The Training page's sections: the recipe's defaults, the datasets, the command behind each checkpoint, and what
each sitting boundary of a run spanning several did to its curve."""
import argparse
import inspect
from dataclasses import fields
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import griffe

from resnet_zoo.checkpoint import read_state
from resnet_zoo.cifar import CIFAR_SPECS
from resnet_zoo.commands.train import arguments as train_arguments
from resnet_zoo.constants import default_tag
from resnet_zoo.imagefolder import IMAGE_FOLDER, SPLIT_FOLDERS
from resnet_zoo.recipe import Recipe
from resnet_zoo.resnet import list_pretrained_tags
from resnet_zoo.run_state import SITTING_STARTS, run_state_file
from resnet_zoo.train_log import TRAIN_LOG_NAME, read_train_log

from md_format import fenced, format_percent, markdown_table
from model_table import zoo_models
from published import Published


def _attribute_descriptions(cls: type) -> Dict[str, str]:
    """The ``Attributes:`` section of ``cls``'s Google-style docstring, by attribute name."""
    sections = griffe.Docstring(inspect.getdoc(cls) or "").parse(griffe.Parser.google)
    return {a.name: " ".join(a.description.split()) for s in sections
            if s.kind is griffe.DocstringSectionKind.attributes for a in s.value}


def train_option_defaults() -> Dict[str, object]:
    """Each `Recipe` field's default as ``resnet-zoo train`` gives it: ``"required"`` for an option a new run needs
    (``--model``), the option's own default where it has one (``--precision auto``), else the `Recipe` default it
    leads to (``--lr``, ``--warmup-epochs``)."""
    parser = argparse.ArgumentParser()
    train_arguments(parser)
    required = {action.dest for action in parser._actions  # argparse has no public view; train asks for --model
                if action.required or "required" in (action.help or "")}  # of a new run itself
    recipe = Recipe()
    cli = {f.name: parser.get_default(f.name) for f in fields(Recipe)}
    return {name: "required" if name in required else getattr(recipe, name) if default is None else default
            for name, default in cli.items()}


def recipe_table() -> str:
    """Every `Recipe` field: its ``resnet-zoo train`` option, its default and its docstring description.

    Raises:
        ValueError: If the `Recipe` docstring does not describe a field.
    """
    descriptions = _attribute_descriptions(Recipe)
    defaults = train_option_defaults()
    undocumented = [f.name for f in fields(Recipe) if f.name not in descriptions]
    if undocumented:
        raise ValueError(f"the Recipe docstring's Attributes section does not describe {', '.join(undocumented)}")
    rows = [(f"`--{f.name.replace('_', '-')}`",
             "required" if defaults[f.name] == "required" else f"`{defaults[f.name]}`", descriptions[f.name])
            for f in fields(Recipe)]
    return markdown_table(("Option", "Default", "Meaning"), rows)


def datasets_table() -> str:
    """The supported datasets: folder under ``--data``, classes, tag of the weights and normalisation."""
    rows = [(f"`{s.name}`", s.title, f"`{s.folder}/`", str(s.num_classes), f"`{default_tag(s.name)}`",
             ", ".join(map(str, s.mean)), ", ".join(map(str, s.std))) for s in CIFAR_SPECS.values()]
    folders = ", ".join(f"`{folder}/`" for folder in SPLIT_FOLDERS.values())
    rows.append((f"`{IMAGE_FOLDER.name}`", "an ImageFolder tree", folders, "one per class folder",
                 f"`{default_tag(IMAGE_FOLDER.name)}`", "the model's (ImageNet's)", "the model's (ImageNet's)"))
    return markdown_table(("`--dataset`", "Dataset", "Folder", "Classes", "Tag", "Mean", "Std"), rows)


def trained_weights(published: Mapping[str, Published]) -> List[str]:
    """``model.tag`` of the folders of ``hub/`` trained by the recipe: the registered ones in the registry's order,
    then the others by name."""
    registered = [name for model in zoo_models() for name in list_pretrained_tags(model)]
    trained = [name for name, weights in published.items() if weights.recipe is not None]
    return [name for name in registered if name in trained] + sorted(set(trained) - set(registered))


def _published_run(weights: Published) -> List[str]:
    top1 = weights.metrics.get("top1")
    wall_time = weights.details.get("Training wall time")
    hardware = weights.details.get("Training hardware")
    facts = [f"top-1 **{format_percent(top1)}** on the {weights.dataset} test split" if top1 is not None
             else "no top-1 in its model card",
             f"trained in {wall_time}" if wall_time else "training time not recorded",
             f"on {hardware}" if hardware else "hardware not recorded"]
    lines = [f"Published in `hub/{weights.name}/`: {', '.join(facts)}.", ""]
    if weights.command:
        lines += ["The exact command, from its model card:", "", fenced(weights.command, "bash")]
    else:
        lines += ["Its model card records no training command."]
    return lines


def training_runs(published: Mapping[str, Published]) -> str:
    """One section per checkpoint of ``hub/`` trained by the recipe: top-1, wall time, hardware and exact command.

    Args:
        published: The weights folders of ``hub/`` by ``model.tag`` (see `published.read_published`).
    """
    lines: List[str] = []
    for name in trained_weights(published):
        lines += [f"### `{name}`", "", *_published_run(published[name]), ""]
    return "\n".join(lines)


NOISE_WINDOW = 5
"""Epoch-to-epoch changes on either side of a sitting boundary that show its curve's noise there."""


def _runs_of_several_sittings(published: Mapping[str, Published]) -> List[Tuple[str, List[Dict], Sequence[Mapping]]]:
    """``(title, log, sittings)`` of every run of ``hub/`` trained in more than one sitting: a folder's run in
    progress (its `resnet_zoo.constants.LAST_CHECKPOINT` state) and its shipped weights' run (log and card)."""
    runs = []
    for name, weights in sorted(published.items()):
        state_file = run_state_file(weights.folder)
        if state_file.is_file():
            state = read_state(state_file)
            runs.append((f"`{name}`, run in progress (epoch {state['epoch']} of {state['recipe']['epochs']})",
                         state["history"], state["sittings"]))
        if len(weights.sittings) > 1:
            runs.append((f"`{name}`, shipped weights", read_train_log(weights.folder / TRAIN_LOG_NAME),
                         weights.sittings))
    return [run for run in runs if len(run[2]) > 1]


def _changes(log: Sequence[Mapping[str, Any]], first: int, firsts: Sequence[int], key: str) -> Tuple[float, ...]:
    """The change of ``key`` from epoch ``first - 1`` to ``first``, and the lowest and highest epoch-to-epoch
    change within `NOISE_WINDOW` epochs either side, leaving out the changes at any sitting's ``firsts``."""
    values = {r["epoch"]: r[key] for r in log}
    around = [values[e] - values[e - 1] for e in range(first - NOISE_WINDOW, first + NOISE_WINDOW + 1)
              if e not in firsts and e - 1 in values and e in values]
    return values[first] - values[first - 1], min(around), max(around)


def run_boundaries(published: Mapping[str, Published]) -> str:
    """For each run of ``hub/`` trained in several sittings, a table of its sitting boundaries: the change of the
    EMA model's test top-1 and of the training loss from the last epoch before the boundary to the first after it,
    beside the range of the epoch-to-epoch changes around it. A drop beyond that noise is named.

    Args:
        published: The weights folders of ``hub/`` by ``model.tag`` (see `published.read_published`).
    """
    lines: List[str] = []
    for title, log, sittings in _runs_of_several_sittings(published):
        rows, firsts = [], [s["first_epoch"] for s in sittings]
        for sitting in sittings[1:]:
            first = sitting["first_epoch"]
            top1, top1_low, top1_high = _changes(log, first, firsts, "test_top1")
            loss, loss_low, loss_high = _changes(log, first, firsts, "train_loss")
            drops = [what for what, beyond in (("top-1", top1 < top1_low), ("training loss", loss > loss_high))
                     if beyond]
            rows.append((f"{first - 1} → {first}", SITTING_STARTS[sitting["start"]],
                         f"{top1:+.2f}", f"{top1_low:+.2f} to {top1_high:+.2f}",
                         f"{loss:+.4f}", f"{loss_low:+.4f} to {loss_high:+.4f}",
                         ", ".join(drops) or "none"))
        lines += [f"{title}:", "", markdown_table(
            ("Epochs", "Sitting started", "Top-1 change (points)", f"Changes within {NOISE_WINDOW} epochs",
             "Training loss change", f"Changes within {NOISE_WINDOW} epochs", "Drop beyond them"), rows), ""]
    return "\n".join(lines) or "No run of `hub/` has more than one sitting."
