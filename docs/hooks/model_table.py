"""The Models page's tables, computed from timm's registry: size, cost, layout and pretrained weights."""
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import timm

import resnet_zoo  # noqa: F401  (registers the models)
from resnet_zoo.cards import count_macs, format_count
from resnet_zoo.resnet import MODELS, list_pretrained_tags

from md_format import format_percent, markdown_table
from published import Published

NOT_PUBLISHED = "not yet published"


@dataclass(frozen=True)
class ModelFacts:
    """What the tables say about one registered architecture, all read off the model timm builds.

    Attributes:
        name: Model name in timm's registry.
        block: Residual block class name.
        depths: Blocks per stage.
        widths: Output channels per stage.
        output_stride: Downsampling of the last stage's features relative to the input.
        params: Number of parameters.
        macs: Multiply-accumulates of one image at ``input_size``.
        input_size: ``(channels, height, width)`` of the pretrained cfg.
        shortcut: ``"A"`` or ``"B"``, the shortcut type of the blocks that change shape.
        tags: Tags of the weights registered for the model, its default first.
        default: Tag of the weights ``pretrained=True`` loads without a tag (``None``: there are none).
    """

    name: str
    block: str
    depths: Tuple[int, ...]
    widths: Tuple[int, ...]
    output_stride: int
    params: int
    macs: int
    input_size: Tuple[int, int, int]
    shortcut: str
    tags: Tuple[str, ...]
    default: Optional[str]


def zoo_models() -> List[str]:
    """Names of the architectures resnet_zoo registers in timm, CIFAR family first, by depth."""
    return list(MODELS)


def model_facts(name: str, **kwargs: Any) -> ModelFacts:
    """The `ModelFacts` of registered model ``name``, built on the meta device (no memory, no weights).

    Args:
        name: Model name in timm's registry.
        **kwargs: Further arguments of ``timm.create_model`` (e.g. ``shortcut="A"``).
    """
    model = timm.create_model(name, device="meta", **kwargs)
    cfg = model.pretrained_cfg
    stages = [getattr(model, stage) for stage in model.stage_names]
    return ModelFacts(
        name=name,
        block=type(stages[0][0]).__name__,
        depths=tuple(len(stage) for stage in stages),
        widths=tuple(info["num_chs"] for info in model.feature_info[1:]),
        output_stride=model.feature_info[-1]["reduction"],
        params=sum(p.numel() for p in model.parameters()),
        macs=count_macs(model, cfg["input_size"]),
        input_size=tuple(cfg["input_size"]),
        shortcut=model.shortcut,
        tags=tuple(n.split(".", 1)[1] for n in list_pretrained_tags(name)),
        default=cfg["tag"] if cfg.get("hf_hub_id") else None,
    )


def _describe_weights(weights: Optional[Published]) -> str:
    """Top-1, architecture options and source of a ``hub/`` folder's weights (or that there is none)."""
    if weights is None:
        return NOT_PUBLISHED
    facts = [f"{format_percent(weights.metrics['top1'])} top-1 on {weights.dataset}" if "top1" in weights.metrics
             else "published, no top-1 in its card"]
    facts += [f"{key} {value}" for key, value in weights.model_args.items()]
    facts.append(f"from {weights.source}" if weights.source else
                 "trained by the recipe" if weights.recipe is not None else "source not recorded")
    return ", ".join(facts)


def _weights_cell(facts: ModelFacts, published: Mapping[str, Published]) -> str:
    """Every tag of the model: registered ones (the default marked) and those only in ``hub/``."""
    hub_only = sorted(p.tag for p in published.values() if p.architecture == facts.name and p.tag not in facts.tags)
    entries = []
    for tag in (*facts.tags, *hub_only):
        default = " (default)" if tag == facts.default else ""
        note = "" if tag in facts.tags else ", not registered: load it as `hf-hub:` or `local-dir:`"
        entries.append(f"`{tag}`{default}: {_describe_weights(published.get(f'{facts.name}.{tag}'))}{note}")
    return "<br>".join(entries) or "none"


def models_table(facts: Sequence[ModelFacts], published: Mapping[str, Published]) -> str:
    """The Markdown table of both families: size, cost, input, shortcut and pretrained weights with top-1 and
    source.

    Args:
        facts: One entry per model, in table order.
        published: The weights folders of ``hub/`` by ``model.tag`` (see `published.read_published`).
    """
    rows = [(f"`{f.name}`", format_count(f.params), format_count(f.macs), "×".join(map(str, f.input_size)),
             f.shortcut, _weights_cell(f, published)) for f in facts]
    return markdown_table(("Model", "Params", "MACs", "Input", "Shortcut", "Pretrained weights"), rows)


def layout_table(facts: Sequence[ModelFacts]) -> str:
    """The Markdown table of each model's block type, blocks per stage, stage widths and output stride."""
    rows = [(f"`{f.name}`", f.block, " / ".join(map(str, f.depths)), " / ".join(map(str, f.widths)),
             str(f.output_stride)) for f in facts]
    return markdown_table(("Model", "Block", "Blocks per stage", "Stage output channels", "Output stride"), rows)
