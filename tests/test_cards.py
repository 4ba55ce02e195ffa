"""Model cards: what a card shows, what `read_card` reads back, the training curve, the MAC count, and that
matplotlib stays out of the imports."""
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import timm
from huggingface_hub import ModelCard
from matplotlib.figure import Figure
from safetensors import safe_open

import resnet_zoo
from resnet_zoo.cards import (CARD_NAME, CODE_LABEL, CURVE_NAME, CardFacts, count_macs, plot_training_curve,
                              read_card)
from resnet_zoo.errors import WeightsError
from resnet_zoo.hub import export
from resnet_zoo.pretrained import CIFAR10_MEAN, CIFAR10_STD

from full_export import COMMAND, HARDWARE, METRICS, export_full, sha256


@pytest.fixture
def folder(tmp_path) -> Path:
    return export_full(tmp_path)


def test_card_front_matter_is_what_the_hub_reads(folder):
    card = ModelCard.load(folder / CARD_NAME)
    assert (card.data.library_name, card.data.license, card.data.datasets, card.data.pipeline_tag) == \
        ("timm", "apache-2.0", ["cifar10"], "image-classification")
    assert card.data.metrics == ["accuracy", "loss", "top_5_accuracy"]
    assert {(r.metric_type, r.metric_value, r.dataset_type, r.dataset_split) for r in card.data.eval_results} == {
        ("accuracy", 91.73, "cifar10", "test"), ("top_5_accuracy", 99.71, "cifar10", "test"),
        ("loss", 0.2891, "cifar10", "test")}


def test_card_shows_usage_training_and_files(folder):
    text = (folder / CARD_NAME).read_text()
    weights = folder / "model.safetensors"
    for block in ('timm.create_model("hf-hub:resnet-zoo/cifar_resnet20.rz_cifar10", pretrained=True)',
                  f"Command:\n\n```bash\n{COMMAND}\n```", '```json\n{\n  "epochs": 2,\n  "lr": 0.1\n}\n```',
                  f"![Training curve]({CURVE_NAME})", "Per-epoch log: [train_log.jsonl](train_log.jsonl)",
                  f"| `model.safetensors` | {weights.stat().st_size} | `{sha256(weights)}` |"):
        assert block in text


def test_read_card_reads_back_the_details_table(folder):
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        commit = f.metadata()["git_commit"]
    # MACs by hand: stem 442,368 + stage 1 14,155,776 + stages 2 and 3 13,107,200 each + fc 640 = 40,813,184
    assert read_card(folder / CARD_NAME) == CardFacts(
        files={"model.safetensors": sha256(folder / "model.safetensors")},
        metrics=METRICS,
        details={
            "Architecture": "`cifar_resnet20`", "Classes": "10", "Dataset": "cifar10",
            "Top-1 accuracy (%)": "91.73", "Top-5 accuracy (%)": "99.71", "Cross-entropy loss": "0.2891",
            "Parameters": "0.27 M (272,474)", "MACs": "40.81 M at 3×32×32",
            "Input": f"3×32×32, mean {CIFAR10_MEAN}, std {CIFAR10_STD}, crop_pct 1.0, bilinear",
            "Training wall time": "1 h 02 min (3725 s)", "Training hardware": HARDWARE,
            "resnet_zoo": f"{resnet_zoo.__version__} (commit {commit})",
        },
        command=COMMAND, sittings=[])


@pytest.mark.parametrize("epochs, code, row", [
    ((30, 30), [(5, "abc"), (19, "def")],
     "epochs 1–4: not recorded; epochs 5–18: commit abc; epochs 19–30: commit def"),
    ((2, 40), [(1, "abc"), (2, "def")], "epoch 1: commit abc; epoch 2: commit def"),
])
def test_card_names_the_commit_that_trained_each_stretch_of_epochs(tmp_path, epochs, code, row):
    folder = export(timm.create_model("cifar_resnet20"), tmp_path / "m", tag="t", epochs=epochs, code=code)
    assert read_card(folder / CARD_NAME).details[CODE_LABEL] == row


@pytest.mark.parametrize("text, message", [
    (None, r"README\.md: not a readable model card"),
    ("# A card\n", r"README\.md: front matter must say library_name: timm, got None$"),
])
def test_read_card_needs_a_timm_card(tmp_path, text, message):
    if text is not None:
        (tmp_path / CARD_NAME).write_text(text)
    with pytest.raises(WeightsError, match=message):
        read_card(tmp_path / CARD_NAME)


def test_training_curve_is_a_png_of_three_panels(folder, tmp_path, monkeypatch):
    """Loss, top-1 and learning rate, each panel the log's values per epoch."""
    png = (folder / CURVE_NAME).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1200, 360)
    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: drawn.append(figure))
    records = [dict(epoch=e, train_loss=2. / e, test_loss=1.5 / e, train_top1=40. + e, test_top1=50. + e,
                    lr=0.1 / e) for e in (1, 2, 3)]
    plot_training_curve(records, tmp_path / CURVE_NAME)
    [figure] = drawn
    panels = {ax.get_title(): {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                               for line in ax.get_lines()} for ax in figure.axes}

    def column(key: str) -> tuple:
        return [1, 2, 3], [r[key] for r in records]

    assert panels == {"Loss": {"train": column("train_loss"), "test": column("test_loss")},
                      "Top-1 accuracy (%)": {"train": column("train_top1"), "test": column("test_top1")},
                      "Learning rate": {"lr": column("lr")}}


def test_count_macs_counts_on_the_meta_device():
    assert count_macs(timm.create_model("cifar_resnet20", device="meta"), (3, 32, 32)) == 40_813_184


@pytest.mark.parametrize("module", ["resnet_zoo.cards", "resnet_zoo.hub"])
def test_importing_leaves_matplotlib_out(module):
    """matplotlib is imported only to draw a training curve, not with the modules (a fresh interpreter)."""
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.partition('.')[0] == 'matplotlib'))"
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout == "[]\n"
