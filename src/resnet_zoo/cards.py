"""Model cards: the ``README.md`` of a Hub model folder, rendered by `resnet_zoo.hub.export`, read back by
`resnet_zoo.hub.verify` and the docs.

A card holds front matter for the Hub (``library_name: timm``, licence, dataset, metrics as a ``model-index``)
and these sections: a details table (accuracy, parameters, MACs, input, training time and hardware, and for
weights made elsewhere their source), usage, training (command, recipe, and the curve `plot_training_curve` draws
from the training log), the weights' licence text, the size and SHA-256 of every weight file, and the citation.
"""
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.constants import REPOCARD_NAME as CARD_NAME  # the model card in a Hub folder

from .budget import format_duration
from .errors import WeightsError
from .resnet import architecture_options
from .run_state import RESTARTS, read_sittings_table, sittings_table
from .pretrained import PAPER_ID, hub_id, weights_name
from .train_log import TRAIN_LOG_NAME

__all__ = [
    "CARD_NAME", "CURVE_NAME", "METRICS", "SOURCE_LABEL", "SOURCE_TOP1_LABEL", "CardFacts", "model_card",
    "read_card", "plot_training_curve", "count_macs", "file_sha256", "format_count",
]

CURVE_NAME = "training_curve.png"
"""The training-curve plot drawn from the training log."""

METRICS = {
    "top1": ("accuracy", "Top-1 accuracy (%)"),
    "top5": ("top_5_accuracy", "Top-5 accuracy (%)"),
    "loss": ("loss", "Cross-entropy loss"),
}
"""Metric key -> (Hub metric type, label). ``top1`` and ``top5`` (percent) are required, ``loss`` optional."""

SOURCE_LABEL = "Source"
"""The model card's details row crediting where converted weights come from."""
SOURCE_TOP1_LABEL = "Top-1 reported by the source (%)"
"""The model card's details row with the source's own top-1 of converted weights."""

EPOCHS_LABEL = "Training epochs"
"""The model card's details row saying after which epoch of how many the weights were taken ("100 of 100")."""
INIT_LABEL = "Initialisation"
"""The model card's details row saying where the trained weights started: random, or weights and their top-1."""
TEACHER_LABEL = "Teacher"
"""The model card's details row naming the weights the model was distilled from (`resnet_zoo.distill`)."""
CODE_LABEL = "Training code"
"""The model card's details row naming the resnet_zoo commits that trained the weights, each with its epochs."""
DETAILS_HEADING = "## Model details"
"""The heading of the card's details table."""
DETAILS_ROW = re.compile(r"^\| (?P<label>[^|\n`]+?) \| (?P<value>[^|\n]+?) \|$", re.M)
"""A row of the details table: ``| Training hardware | NVIDIA H200 |``."""
FILE_ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<size>\d+) \| `(?P<sha256>[0-9a-f]{64})` \|$", re.M)
"""A row of the files table: name, size in bytes and SHA-256 of one weight file."""
COMMAND_BLOCK = re.compile(r"^Command:\n\n```bash\n(?P<command>.+?)\n```$", re.M | re.S)
"""The training command's code block."""

PAPER_BIBTEX = """@inproceedings{he2016deep,
  title={Deep Residual Learning for Image Recognition},
  author={He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  booktitle={CVPR},
  year={2016}
}"""
"""The citation every card ends with."""


@dataclass(frozen=True)
class CardFacts:
    """What a model card records, as `read_card` reads it.

    Attributes:
        files: SHA-256 of each weight file the card lists, by file name.
        metrics: The `METRICS` of its front matter, e.g. ``{"top1": 91.73, "top5": 99.71}`` (may be empty).
        details: The rows of its details table by label (``"Training hardware"``, `SOURCE_LABEL`, …).
        command: The exact training command (``None`` if it records none).
        sittings: ``first_epoch``, ``last_epoch`` and ``start`` of each sitting its training section lists
            (`resnet_zoo.run_state.read_sittings_table`; empty where it lists none).
    """

    files: Dict[str, str]
    metrics: Dict[str, float]
    details: Dict[str, str]
    command: Optional[str]
    sittings: List[Dict[str, Any]]


def model_card(
        config: Mapping[str, Any],
        files: Sequence[Path],
        metadata: Mapping[str, str],
        *,
        dataset: Optional[str],
        metrics: Optional[Mapping[str, float]],
        recipe: Optional[dict],
        command: Optional[str],
        wall_time_s: Optional[float],
        hardware: Optional[str],
        num_params: int,
        macs: int,
        has_curve: bool,
        source: Optional[str],
        source_top1: Optional[float],
        license_text: Optional[str],
        epochs: Optional[Tuple[int, int]] = None,
        code: Optional[Sequence[Tuple[int, str]]] = None,
        sittings: Optional[Sequence[Mapping[str, Any]]] = None,
        initialisation: Optional[str] = None,
        teacher: Optional[str] = None,
) -> str:
    """The model card (Markdown with YAML front matter) of a model folder.

    Args:
        config: The folder's ``config.json``, in timm's schema.
        files: The weight files, in the folder (their size and SHA-256 are listed).
        metadata: The weights' header metadata (``resnet_zoo_version`` and ``git_commit`` are shown).
        dataset: Dataset of the metrics.
        metrics: `METRICS` keys and values (percent; the loss as is).
        recipe: Training hyper-parameters, shown as JSON.
        command: The exact training command.
        wall_time_s: Training wall-clock time in seconds.
        hardware: What the weights trained on.
        num_params: Number of parameters.
        macs: Multiply-accumulates of one image at the config's input size (see `count_macs`).
        has_curve: Whether the folder holds the training log and its plot, `CURVE_NAME`.
        source: Where weights made elsewhere come from (Markdown), the `SOURCE_LABEL` row.
        source_top1: The top-1 (%) the source reports, the `SOURCE_TOP1_LABEL` row.
        license_text: The full text of the weights' licence.
        epochs: ``(k, n)``: the weights are those after epoch ``k`` of a run of ``n`` epochs; with ``k < n`` the
            card says they are interim.
        code: ``(first epoch, commit)`` of each stretch of the run's epochs that one resnet_zoo commit trained,
            in order (needs ``epochs``); epochs before the first are shown as not recorded.
        sittings: The sittings that trained the run (`resnet_zoo.run`), listed in the training section.
        initialisation: Where the trained weights started, the `INIT_LABEL` row.
        teacher: The weights the model was distilled from, the `TEACHER_LABEL` row.

    Returns:
        The text of `CARD_NAME`.
    """
    cfg, architecture = config["pretrained_cfg"], config["architecture"]
    name = weights_name(architecture, cfg["tag"])
    input_size = "×".join(map(str, cfg["input_size"]))
    model_args = architecture_options(config.get("model_args", {}))
    rows = [("Architecture", f"`{architecture}`" + "".join(f", {k}={v!r}" for k, v in model_args.items())),
            ("Classes", str(config["num_classes"]))]
    if dataset:
        rows.append(("Dataset", dataset))
    rows += [(METRICS[k][1], f"{metrics[k]:.2f}" if k != "loss" else f"{metrics[k]:.4f}")
             for k in METRICS if metrics and k in metrics]
    if source_top1 is not None:
        rows.append((SOURCE_TOP1_LABEL, f"{source_top1:.2f}"))
    if source:
        rows.append((SOURCE_LABEL, source))
    rows += [("Parameters", f"{format_count(num_params)} ({num_params:,})"),
             ("MACs", f"{format_count(macs)} at {input_size}"),
             ("Input", f"{input_size}, mean {tuple(cfg['mean'])}, std {tuple(cfg['std'])}, "
                       f"crop_pct {cfg['crop_pct']}, {cfg['interpolation']}")]
    if epochs is not None:
        rows.append((EPOCHS_LABEL, "{} of {}".format(*epochs)))
    if initialisation:
        rows.append((INIT_LABEL, initialisation))
    if teacher:
        rows.append((TEACHER_LABEL, teacher))
    if wall_time_s is not None:
        rows.append(("Training wall time", format_duration(wall_time_s)))
    if hardware:
        rows.append(("Training hardware", hardware))
    if code:
        rows.append((CODE_LABEL, _format_code(code, epochs[0])))
    rows.append(("resnet_zoo", f"{metadata['resnet_zoo_version']} (commit {metadata['git_commit']})"))

    lines = [f"# {name}", "",
             f"ResNet `{architecture}` (He et al., *Deep Residual Learning for Image Recognition*, "
             f"[{PAPER_ID}](https://arxiv.org/abs/{PAPER_ID.partition(':')[2]})) from resnet_zoo, "
             f"weights `{cfg['tag']}`"
             + (f" trained on {dataset}" if dataset else "")
             + (" by their source (below), converted to resnet_zoo's names and safetensors." if source else "."), "",
             *_interim_note(epochs),
             DETAILS_HEADING, "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
             "## Usage", "", "```python",
             "import timm  # with resnet-zoo installed (pip install resnet-zoo), timm knows its models", "",
             f'model = timm.create_model("hf-hub:{hub_id(architecture, cfg["tag"])}", pretrained=True).eval()',
             "```", ""]
    if command or recipe is not None or has_curve or sittings:
        lines += ["## Training", ""]
        if command:
            lines += ["Command:", "", "```bash", command, "```", ""]
        if recipe is not None:
            lines += ["Recipe:", "", "```json", json.dumps(recipe, indent=2, sort_keys=True), "```", ""]
        if sittings:
            continued = any(s["start"] == "hub" for s in sittings)
            lines += ["Sittings, one process each" + (f"; a sitting continued from the model folder restarts what "
                                                      f"the folder does not carry: {RESTARTS}" if continued else "")
                      + ":", "", *sittings_table(sittings), ""]
        if has_curve:
            lines += [f"![Training curve]({CURVE_NAME})", "", f"Per-epoch log: [{TRAIN_LOG_NAME}]({TRAIN_LOG_NAME})",
                      ""]
    if license_text:
        lines += ["## License", "", f"The weights are under their source's licence, `{cfg.get('license')}`, whose "
                  f"text follows in full:", "", "```text", license_text.strip(), "```", ""]
    lines += ["## Files", "", "| File | Bytes | SHA-256 |", "|---|---|---|",
              *[f"| `{f.name}` | {f.stat().st_size} | `{file_sha256(f)}` |" for f in files], "",
              "## Citation", "", "```bibtex", PAPER_BIBTEX, "```", ""]
    data = _card_data(name, cfg.get("license"), dataset, metrics)
    return f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines)


def _format_code(code: Sequence[Tuple[int, str]], last: int) -> str:
    """``epochs 1–4: not recorded; epochs 5–30: commit 3059834…`` of the stretches in ``code`` up to ``last``."""
    firsts = [first for first, _ in code]
    stretches = [(1, firsts[0] - 1, "not recorded")] if firsts[0] > 1 else []
    stretches += [(first, end - 1, f"commit {commit}") for (first, commit), end in zip(code, [*firsts[1:], last + 1])]
    return "; ".join(f"epoch {a}: {what}" if a == b else f"epochs {a}–{b}: {what}" for a, b, what in stretches)


def _interim_note(epochs: Optional[Tuple[int, int]]) -> List[str]:
    """The card's note that weights are interim (after epoch k of n < n), or nothing."""
    if epochs is None or epochs[0] >= epochs[1]:
        return []
    return [f"> **Interim weights, epoch {epochs[0]} of {epochs[1]}.** The weights of a run still in progress, "
            f"exported at its last checkpoint; the finished run replaces them under the same tag.", ""]


def _card_data(name: str, license: Optional[str], dataset: Optional[str], metrics: Optional[Mapping[str, float]]):
    """The card's front matter, as ``huggingface_hub`` writes it (``model-index`` holds the metrics)."""
    results = [EvalResult(task_type="image-classification", dataset_type=dataset, dataset_name=dataset,
                          dataset_split="test", metric_type=METRICS[k][0], metric_name=METRICS[k][1],
                          metric_value=float(v)) for k, v in (metrics or {}).items()]
    return ModelCardData(
        library_name="timm", license=license, pipeline_tag="image-classification",
        tags=["image-classification", "timm", "resnet_zoo"], datasets=[dataset] if dataset else None,
        metrics=sorted({METRICS[k][0] for k in metrics}) if metrics else None,
        model_name=name, eval_results=results or None)


def read_card(path: Path) -> CardFacts:
    """Read what a model card written by `model_card` records.

    Args:
        path: The card, ``FOLDER/README.md``.

    Returns:
        Its weight files' SHA-256, metrics, details table, training command and sittings.

    Raises:
        WeightsError: If the card cannot be read or its front matter does not say ``library_name: timm``.
    """
    try:
        card = ModelCard.load(path)
    except (OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable model card ({e})") from None
    if card.data.library_name != "timm":
        raise WeightsError(f"{path}: front matter must say library_name: timm, got {card.data.library_name!r}")
    by_type = {metric_type: key for key, (metric_type, _) in METRICS.items()}
    details = card.text.partition(f"{DETAILS_HEADING}\n")[2].partition("\n## ")[0]
    command = COMMAND_BLOCK.search(card.text)
    return CardFacts(
        files={m["name"]: m["sha256"] for m in FILE_ROW.finditer(card.text)},
        metrics={by_type[r.metric_type]: float(r.metric_value) for r in card.data.eval_results or []
                 if r.metric_type in by_type},
        details={m["label"]: m["value"] for m in DETAILS_ROW.finditer(details)},
        command=command["command"] if command else None,
        sittings=read_sittings_table(card.text))


def plot_training_curve(records: Sequence[Mapping[str, float]], path: Path) -> None:
    """Draw loss, top-1 accuracy and learning rate per epoch side by side, as a PNG.

    matplotlib is imported here, not with the module, and drawn through Agg without pyplot's global state.

    Args:
        records: The epochs of a training log (see `resnet_zoo.train_log.read_train_log`).
        path: The PNG to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in records]
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, top1_ax, lr_ax = fig.subplots(1, 3)
    for ax, title, keys in ((loss_ax, "Loss", ("train_loss", "test_loss")),
                            (top1_ax, "Top-1 accuracy (%)", ("train_top1", "test_top1")),
                            (lr_ax, "Learning rate", ("lr",))):
        for key in keys:
            ax.plot(epochs, [r[key] for r in records], label=key.split("_")[0])
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
    fig.savefig(path, dpi=100)


def count_macs(model: torch.nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on one image (FLOPs / 2, as ``FlopCounterMode`` counts them).

    Args:
        model: The model; it may live on the ``meta`` device (nothing is computed, only counted).
        input_size: ``(C, H, W)`` of the image.

    Returns:
        The number of multiply-accumulates.
    """
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.empty(1, *input_size, device=next(model.parameters()).device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops() // 2


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as the card lists it (hex digest), read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def format_count(n: float) -> str:
    """``n`` in millions (``0.27 M``) or, from a billion on, billions (``4.09 G``), as the card shows sizes."""
    return f"{n / 1e9:.2f} G" if n >= 1e9 else f"{n / 1e6:.2f} M"
