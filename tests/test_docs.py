"""The docs' generated sections: exact model sizes and costs, weights read from hub/ folders, markers, coverage.

The site itself is built by ``mkdocs build --strict`` (CI); these tests check what the hook writes into it.
"""
import json
import shutil
import sys
from dataclasses import asdict, fields
from pathlib import Path

import pytest
import timm
import torch
import torchvision

pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
pytest.importorskip("griffe", reason="the docs extra is not installed: pip install -e '.[docs]'")

from mkdocs.exceptions import PluginError  # noqa: E402

from resnet_zoo.commands.cli import COMMANDS  # noqa: E402
from resnet_zoo.errors import WeightsError  # noqa: E402
from resnet_zoo.hub import export  # noqa: E402
from resnet_zoo.recipe import Recipe  # noqa: E402
from resnet_zoo.run_state import save_run_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

import generate  # noqa: E402
import model_table  # noqa: E402
import reference_sections  # noqa: E402
import training_tables  # noqa: E402
from published import read_published  # noqa: E402

TOP1, TOP5 = 92.84, 99.71
COMMAND = "resnet-zoo train --data /data --out runs/x --model cifar_resnet20 --epochs 200"
SOURCE = "[someone/repro](https://example.org/repro) at commit abc1234"


def cifar_counts(n: int, classes: int = 10):
    """Parameters and MACs of CIFAR ResNet-(6n+2) with shortcut B, counted by hand from the paper's layout."""
    params = macs = 0

    def conv(cin, cout, k, side):
        nonlocal params, macs
        params += cin * cout * k * k + 2 * cout  # no bias; BatchNorm weight and bias
        macs += cin * cout * k * k * side * side

    conv(3, 16, 3, 32)
    cin = 16
    for width, side in ((16, 32), (32, 16), (64, 8)):
        for i in range(n):
            conv(cin if i == 0 else width, width, 3, side)
            conv(width, width, 3, side)
            if i == 0 and cin != width:
                conv(cin, width, 1, side)  # the projection shortcut
        cin = width
    return params + 64 * classes + classes, macs + 64 * classes


@pytest.mark.parametrize("depth, n, tags, default", [(20, 3, ("rz_cifar10", "ak_cifar10"), "rz_cifar10"),
                                                     (32, 5, ("rz_cifar10", "ak_cifar10"), "rz_cifar10"),
                                                     (44, 7, ("rz_cifar10", "ak_cifar10"), "rz_cifar10"),
                                                     (56, 9, ("rz_cifar10", "ak_cifar10"), "rz_cifar10"),
                                                     (110, 18, ("rz_cifar10",), "rz_cifar10")])
def test_cifar_facts_match_the_hand_count(depth, n, tags, default):
    facts = model_table.model_facts(f"cifar_resnet{depth}")
    assert (facts.params, facts.macs) == cifar_counts(n)
    assert (facts.block, facts.depths, facts.widths, facts.output_stride) == ("BasicBlock", (n, n, n), (16, 32, 64), 4)
    assert (facts.input_size, facts.shortcut, facts.tags, facts.default) == ((3, 32, 32), "B", tags, default)


def test_imagenet_facts_match_torchvision():
    facts = model_table.model_facts("zoo_resnet50")
    with torch.device("meta"):
        reference_model = torchvision.models.resnet50()
    assert facts.params == sum(p.numel() for p in reference_model.parameters())
    # torchvision documents the cost of its ResNet-50 in GMACs (its "GFLOPS"), to three decimals
    assert round(facts.macs / 1e9, 3) == torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["_ops"]
    assert (facts.block, facts.depths, facts.widths, facts.tags, facts.default) == \
        ("Bottleneck", (3, 4, 6, 3), (256, 512, 1024, 2048), (), None)


def test_shortcut_a_is_reported():
    facts = model_table.model_facts("cifar_resnet20", shortcut="A")
    assert (facts.shortcut, facts.params) == ("A", cifar_counts(3)[0] - (16 * 32 + 2 * 32) - (32 * 64 + 2 * 64))


@pytest.fixture(scope="module")
def facts():
    return [model_table.model_facts(name) for name in ("cifar_resnet20", "cifar_resnet56", "zoo_resnet18")]


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    """A hub/ folder holding one trained cifar_resnet20 and one converted, unregistered set of weights."""
    tmp_path = tmp_path_factory.mktemp("docs")
    torch.manual_seed(0)
    log = tmp_path / "train_log.jsonl"
    log.write_text(json.dumps({"epoch": 1, "train_loss": 1.5, "lr": 0.4, "train_top1": 40.0, "test_top1": TOP1,
                               "test_top5": TOP5, "test_loss": 0.3, "img_per_s": 9000.0, "wall_s": 3725.0}) + "\n")
    export(timm.create_model("cifar_resnet20"), tmp_path / "hub" / "cifar_resnet20.rz_cifar10", tag="rz_cifar10",
           dataset="cifar10", metrics={"top1": TOP1, "top5": TOP5}, recipe={"epochs": 200}, command=COMMAND,
           train_log=log, wall_time_s=3725.0, hardware="NVIDIA H200")
    export(timm.create_model("cifar_resnet56", shortcut="A"), tmp_path / "hub" / "cifar_resnet56.repro",
           tag="repro", source=SOURCE)
    return tmp_path / "hub"


def test_models_table_without_published_weights(facts):
    table = model_table.models_table(facts, {}).splitlines()
    assert table[0] == "| Model | Params | MACs | Input | Shortcut | Pretrained weights |"
    assert table[2] == "| `cifar_resnet20` | 0.27 M | 40.81 M | 3×32×32 | B | `rz_cifar10` (default): not yet " \
                       "published<br>`ak_cifar10`: not yet published |"
    assert table[4] == "| `zoo_resnet18` | 11.69 M | 1.81 G | 3×224×224 | B | none |"


def test_models_table_reads_top1_from_hub(facts, hub_dir):
    published = read_published(hub_dir)
    assert sorted(published) == ["cifar_resnet20.rz_cifar10", "cifar_resnet56.repro"]
    rows = model_table.models_table(facts, published).splitlines()
    assert rows[2].endswith("| `rz_cifar10` (default): 92.84 % top-1 on cifar10, trained by the recipe<br>"
                            "`ak_cifar10`: not yet published |")
    assert rows[3].endswith("| `rz_cifar10` (default): not yet published<br>`ak_cifar10`: not yet published<br>"
                            "`repro`: published, no top-1 in its card, "
                            f"shortcut A, from {SOURCE}, not registered: load it as `hf-hub:` or `local-dir:` |")


def test_published_weights_carry_the_card_facts(hub_dir):
    weights = read_published(hub_dir)["cifar_resnet20.rz_cifar10"]
    assert (weights.architecture, weights.tag, weights.dataset) == ("cifar_resnet20", "rz_cifar10", "cifar10")
    assert (weights.metrics, weights.recipe) == ({"top1": TOP1, "top5": TOP5}, {"epochs": 200})
    assert weights.command == COMMAND
    assert (weights.model_args, weights.source) == ({}, None)
    converted = read_published(hub_dir)["cifar_resnet56.repro"]
    assert (converted.model_args, converted.source, converted.recipe) == ({"shortcut": "A"}, SOURCE, None)
    assert weights.details["Training hardware"] == "NVIDIA H200"
    assert weights.details["Training wall time"] == "1 h 02 min (3725 s)"


def test_training_runs_are_the_recipe_trained_folders_with_their_exact_command(hub_dir):
    text = training_tables.training_runs(read_published(hub_dir))
    assert [line for line in text.splitlines() if line.startswith("### ")] == ["### `cifar_resnet20.rz_cifar10`"]
    assert "top-1 **92.84 %** on the cifar10 test split, trained in 1 h 02 min (3725 s), on NVIDIA H200." in text
    assert f"```bash\n{COMMAND}\n```" in text


def _sitting(first: int, last: int, start: str) -> dict:
    return dict(first_epoch=first, last_epoch=last, hardware="CPU", precision="bf16", commit="abc", wall_s=60.,
                start=start)


def _log(top1: list, loss: list) -> list:
    return [dict(epoch=i + 1, train_loss=loss[i], lr=0.1, train_top1=50., test_top1=top1[i], test_top5=99.,
                 test_loss=0.3, img_per_s=100., wall_s=60. * (i + 1)) for i in range(len(top1))]


def test_run_boundaries_name_a_drop_beyond_the_changes_around_it(tmp_path):
    """A shipped run (log and card) and a run in progress (its run state), each in two or three sittings: the
    boundary whose top-1 falls below, or whose training loss rises above, the changes around it is named."""
    hub = tmp_path / "hub"
    top1 = [80., 81., 82., 83., 84., 85., 83., 84., 85., 86., 87., 88.]  # falls 2 points at the boundary 6 -> 7
    loss = [1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in _log(top1, loss)))
    folder = export(timm.create_model("cifar_resnet20"), hub / "cifar_resnet20.rz_cifar10", tag="rz_cifar10",
                    dataset="cifar10", metrics={"top1": 88., "top5": 99.}, recipe={"epochs": 12}, train_log=log,
                    epochs=(12, 12), sittings=[_sitting(1, 6, "new"), _sitting(7, 12, "hub")])
    running = _log(top1[:6], loss[:4] + [0.95, 0.6])  # the loss rises at the boundary 4 -> 5
    state = dict(epoch=6, recipe=dict(model="cifar_resnet20", epochs=30), history=running, tag="rz_cifar10",
                 sittings=[_sitting(1, 2, "new"), _sitting(3, 4, "exact"), _sitting(5, 6, "hub")])
    weights = timm.create_model("cifar_resnet20").state_dict()
    tensors = {f"{prefix}.{k}": v.clone() for prefix in ("model", "ema") for k, v in weights.items()}
    save_run_state(folder, tensors, state, "resnet-zoo train --resume FOLDER")
    text = training_tables.run_boundaries(read_published(hub))
    titles = [line for line in text.splitlines() if line.endswith(":")]
    assert titles == ["`cifar_resnet20.rz_cifar10`, run in progress (epoch 6 of 30):",
                      "`cifar_resnet20.rz_cifar10`, shipped weights:"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "→" in line]
    assert rows == [
        # the changes around 2 -> 3 leave out the rise at 4 -> 5, another boundary, but not the fall after it
        "| 2 → 3 | resumed its run folder | +1.00 | +1.00 to +1.00 | -0.1000 | -0.3500 to -0.1000 | none |",
        "| 4 → 5 | continued from the model folder | +1.00 | +1.00 to +1.00 | +0.0500 | -0.3500 to -0.1000 | "
        "training loss |",
        "| 6 → 7 | continued from the model folder | -2.00 | +1.00 to +1.00 | -0.1000 | -0.1000 to -0.1000 | top-1 |"]


def test_a_misnamed_hub_folder_is_an_error(hub_dir, tmp_path):
    shutil.copytree(hub_dir / "cifar_resnet20.rz_cifar10", tmp_path / "hub" / "cifar_resnet20.other")
    with pytest.raises(WeightsError, match="holds cifar_resnet20.rz_cifar10; a hub/ folder is named"):
        read_published(tmp_path / "hub")


def test_missing_hub_folder_holds_nothing(tmp_path):
    assert read_published(tmp_path / "hub") == {}


def test_recipe_table_has_every_field_with_its_default():
    rows = training_tables.recipe_table().splitlines()[2:]
    defaults = {name: f"`{value}`" for name, value in asdict(Recipe()).items()}
    defaults.update(model="required", precision="`auto`")  # `train` has no default model; it resolves auto
    assert [row.split(" | ")[:2] for row in rows] == \
        [[f"| `--{f.name.replace('_', '-')}`", defaults[f.name]] for f in fields(Recipe)]
    assert rows[2] == f"| `--epochs` | {defaults['epochs']} | Passes over the train images. |"


def test_commands_reference_has_every_command_in_order():
    text = reference_sections.commands_reference()
    headings = [line[len("## resnet-zoo "):] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(COMMANDS)
    assert "usage: resnet-zoo train [-h] [--model MODEL] --data DIR" in text


def test_api_reference_covers_every_public_module():
    pages = [p.read_text() for p in (ROOT / "docs" / "api").glob("*.md")]
    assert reference_sections.missing_api_modules(pages) == []
    without_hub = [page.replace("::: resnet_zoo.hub\n", "") for page in pages]
    assert reference_sections.missing_api_modules(without_hub) == ["resnet_zoo.hub"]
    assert {"resnet_zoo", "resnet_zoo.fuse", "resnet_zoo_autoload"} <= set(reference_sections.public_modules())


def test_benchmark_reports_come_from_report_py(tmp_path):
    assert reference_sections.benchmark_reports(tmp_path) == "No benchmark results are committed yet."
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "report.py", tmp_path / "benchmarks" / "report.py")
    info = dict(family="cifar", task="inference", precision="fp32", fused=False, batch=8, image_size=32)
    results = {"machine_info": {"bench_device_name": "NVIDIA H200"}, "benchmarks": [
        {"fullname": f"b{i}", "extra_info": dict(info, model=model, mode="eager"), "stats": {"median": median}}
        for i, (model, median) in enumerate((("reference_resnet56", 0.004), ("cifar_resnet56", 0.002)))]}
    (tmp_path / "benchmarks" / "results" / "h200.json").write_text(json.dumps(results))
    text = reference_sections.benchmark_reports(tmp_path)
    assert text.startswith("## Throughput on NVIDIA H200\n\nFrom `benchmarks/results/h200.json`.\n")
    assert "\n### Inference, fp32\n" in text and "(2.00x)" in text  # report.py's sections, one level down


def test_markers_are_replaced_and_unknown_ones_refused():
    page = "# Title\n\n<!-- generated: table -->\n\n## Next\n"
    assert generate.fill_markers(page, {"table": lambda: "| a |\n|---|"}, "docs/x.md") == \
        "# Title\n\n| a |\n|---|\n\n## Next\n"
    with pytest.raises(PluginError, match=r"docs/x.md: unknown marker '<!-- generated: table -->'; known: other"):
        generate.fill_markers(page, {"other": lambda: ""}, "docs/x.md")

    def broken() -> str:
        raise ValueError("bad")

    with pytest.raises(PluginError, match="docs/x.md: <!-- generated: table --> failed: ValueError: bad"):
        generate.fill_markers(page, {"table": broken}, "docs/x.md")
