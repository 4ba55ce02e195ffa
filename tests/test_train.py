"""The training recipe on CPU: schedule and optimizer, the options of ``resnet-zoo train``, a two-epoch smoke run
that exports a loadable model, a CIFAR-100 run, runs (fp32 and bf16) killed with SIGKILL and resumed to the same
weights, a diverging run, and bad options.

Runs go through the typed entry point `resnet_zoo.run.train`; the command line is tested where it is the
subject (options, errors, a process to kill), with the arguments that `resnet_zoo.run.command_line` writes.
"""
import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import List

import pytest
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import resnet_zoo.engine
import resnet_zoo.run
from resnet_zoo.cards import CODE_LABEL, EPOCHS_LABEL, read_card
from resnet_zoo.checkpoint import STATE_KEY, load_checkpoint, save_checkpoint
from resnet_zoo.cifar import CifarSplit
from resnet_zoo.commands.cli import DefaultsHelpFormatter, build_parser, main
from resnet_zoo.commands.train import arguments as train_arguments, recipe_and_options
from resnet_zoo.constants import CHECKPOINT_FILE, DEFAULT_WORKERS
from resnet_zoo.devices import hardware
from resnet_zoo.engine import build_training, create_optimizer, train_one_epoch
from resnet_zoo.errors import ZooError
from resnet_zoo.hub import git_commit
from resnet_zoo.precision import resolve_precision
from resnet_zoo.recipe import Recipe, default_lr
from resnet_zoo.run import DATA, OUT, RunOptions, TrainingDiverged, command_line, export_run, train
from resnet_zoo.run_state import run_state_file
from resnet_zoo.train_log import LOG_KEYS, TRAIN_LOG_NAME

from fake_cifar import write_cifar

CPU = torch.device("cpu")


def parse(*argv: str) -> argparse.Namespace:
    argv = ["train", *argv]
    return build_parser(argv).parse_args(argv)


def parsed_recipe(*argv: str) -> Recipe:
    """The recipe of ``resnet-zoo train --model cifar_resnet20 --data d ARGV``."""
    return recipe_and_options(parse("--model", "cifar_resnet20", "--data", "d", *argv))[0]


def train_argv(recipe: Recipe, options: RunOptions) -> List[str]:
    """The arguments of ``resnet-zoo`` (``train`` and its options) that run ``recipe`` with ``options`` on the CPU."""
    folders = {DATA: str(options.data), OUT: str(options.out)}
    return [*(folders.get(w, w) for w in shlex.split(command_line(recipe))[1:]), "--device", "cpu"]


def read_log(out: Path) -> list:
    return [json.loads(line) for line in (out / TRAIN_LOG_NAME).read_text().splitlines()]


# ---------------------------------------------------------------------------------------------------------------
# recipe


def test_learning_rate_warms_up_linearly_then_decays_as_a_cosine():
    recipe = Recipe(epochs=10, warmup_epochs=2, lr=0.4)
    lrs = [recipe.lr_at(step, steps_per_epoch=5) for step in range(50)]
    assert lrs[:10] == pytest.approx([0.04 * (i + 1) for i in range(10)])
    assert lrs[10] == 0.4
    assert lrs[30] == pytest.approx(0.2)  # half-way through the 40 cosine steps
    assert lrs[49] == pytest.approx(0.2 * (1 + math.cos(math.pi * 39 / 40)))
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:]))


def test_default_lr_is_scaled_with_the_batch_size():
    assert parsed_recipe().lr == 0.4 == Recipe().lr == default_lr(512)
    assert parsed_recipe("--batch-size", "64").lr == 0.05 == Recipe(batch_size=64).lr == default_lr(64)
    assert parsed_recipe("--lr", "0.3").lr == 0.3


def test_default_warmup_adapts_to_short_runs():
    assert [Recipe(epochs=e).warmup_epochs for e in (1, 2, 3, 10, 24, 49, 50, 200)] == [0, 0, 0, 1, 2, 4, 5, 5]
    recipe = parsed_recipe("--epochs", "1")
    assert (recipe.epochs, recipe.warmup_epochs) == (1, 0)
    assert Recipe(epochs=3, warmup_epochs=2).warmup_epochs == 2


def test_precision_auto_is_resolved_for_the_device_and_model(monkeypatch):
    """``train`` asks `choose_precision` about the device of ``--device`` and the model, and trains at its answer."""
    asked = []

    def choose(precision, device, model):
        asked.append((precision, device, model))
        return ("bf16" if device == CPU and model == "cifar_resnet20" else "fp32") if precision == "auto" \
            else precision, None

    monkeypatch.setattr("resnet_zoo.probe.choose_precision", choose)
    assert parsed_recipe("--device", "cpu").precision == "bf16"
    assert parsed_recipe("--device", "cpu", "--precision", "fp32").precision == "fp32"
    assert asked == [("auto", CPU, "cifar_resnet20"), ("fp32", CPU, "cifar_resnet20")]
    with pytest.raises(ZooError, match="--precision must be bf16 or fp32"):
        Recipe(precision="auto")


def test_options_other_than_the_recipe_are_the_run_options():
    _, options = recipe_and_options(parse("--model", "cifar_resnet20", "--data", "d", "--out", "o", "--tag", "t",
                                          "--resume", "--download", "--device", "cpu", "--no-compile",
                                          "--workers", "3"))
    assert options == RunOptions(data=Path("d"), out=Path("o"), tag="t", resume=True, download=True, device=CPU,
                                 compile=False, workers=3)


def test_the_command_line_of_a_run_gives_back_its_recipe():
    recipe = Recipe(model="cifar_resnet20", dataset="cifar100", epochs=7, batch_size=96, lr=0.123, cutout=16,
                    ema_decay=0, subset=960, seed=5)
    argv = shlex.split(command_line(recipe, "mine"))
    assert argv[:6] == ["resnet-zoo", "train", "--data", "DATA", "--out", "OUT"]  # no path of the machine
    parsed, options = recipe_and_options(parse(*argv[2:]))
    assert parsed == recipe
    assert (options.data, options.out, options.tag) == (Path("DATA"), Path("OUT"), "mine")
    assert "--tag" not in command_line(recipe, "rz_cifar100")  # the dataset's default tag goes without saying


def test_help_shows_every_default():
    """Recipe options have no argparse default, so that a resumed run can tell what was given; their help says
    the default of a new run, the formatter shows the others'."""
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    train_arguments(parser)
    helps = {a.dest: " ".join(parser.formatter_class("x")._get_help_string(a).split()) % vars(a)
             for a in parser._actions}
    recipe = Recipe()
    stated = ["dataset", "epochs", "batch_size", "momentum", "wd", "label_smoothing", "ema_decay", "cutout", "seed"]
    assert [f.name for f in fields(Recipe) if parser.get_default(f.name) is not None] == ["precision"]
    assert [n for n in stated if not helps[n].endswith(f"(default: {getattr(recipe, n)})")] == []
    assert helps["precision"].endswith("(default: auto)") and helps["workers"].endswith(f"(default: {DEFAULT_WORKERS})")
    assert helps["lr"] == "peak learning rate (default: 0.1 x batch size / 128)"
    assert helps["warmup_epochs"] == "linear learning-rate warmup (default: epochs / 10, at most 5)"


@pytest.mark.parametrize("change, message", [
    (dict(epochs=0), "--epochs must be at least 1"),
    (dict(warmup_epochs=200), r"--warmup-epochs must lie in \[0, --epochs\)"),
    (dict(ema_decay=1.0), r"--ema-decay must lie in \[0, 1\)"),
    (dict(label_smoothing=-0.1), r"--label-smoothing must lie in \[0, 1\)"),
    (dict(subset=100), "--subset must hold at least one batch"),
    (dict(lr=0, cutout=-1), "--lr must be positive; --cutout must not be negative"),
    (dict(dataset="mnist"), "unknown dataset 'mnist'"),
    (dict(model="resnet50"), "'resnet50' is not a resnet-zoo model"),
])
def test_recipe_rejects_values_out_of_range(change, message):
    with pytest.raises(ZooError, match=message):
        Recipe(**change)


def test_weight_decay_applies_to_conv_and_linear_weights_only():
    model = timm.create_model("cifar_resnet20")
    optimizer = create_optimizer(model, Recipe(wd=5e-4, lr=0.4))
    decay = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 5e-4 for p in g["params"]}
    names = {name for name, p in model.named_parameters() if id(p) in decay}
    assert names == {name for name, p in model.named_parameters() if name.endswith("weight") and p.ndim > 1}
    assert "fc.weight" in names and "conv1.weight" in names and "fc.bias" not in names
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert all(g["nesterov"] and g["momentum"] == 0.9 for g in optimizer.param_groups)


# ---------------------------------------------------------------------------------------------------------------
# smoke run: two epochs on 512 CIFAR-10 images


SMOKE = Recipe(model="cifar_resnet20", epochs=2, subset=512, batch_size=128, lr=default_lr(128), warmup_epochs=1,
               test_subset=250, precision=resolve_precision("auto", CPU))
"""Two epochs on 512 images, as ``resnet-zoo train`` makes the recipe of its options on this CPU."""


@pytest.fixture(scope="module")
def smoke(cifar10_root, tmp_path_factory):
    """`train` of `SMOKE`; returns (its options, exported folder)."""
    options = RunOptions(data=cifar10_root, out=tmp_path_factory.mktemp("smoke") / "run", device=CPU)
    return options, train(SMOKE, options).folder


def test_smoke_run_logs_each_epoch(smoke):
    options, folder = smoke
    log = read_log(options.out)
    assert [list(r) for r in log] == [list(LOG_KEYS)] * 2
    assert [r["epoch"] for r in log] == [1, 2]
    assert [r["lr"] for r in log] == [SMOKE.lr_at(3, 4), SMOKE.lr_at(7, 4)]
    assert 0 < log[0]["wall_s"] < log[1]["wall_s"]
    assert all(math.isfinite(r["train_loss"]) and r["img_per_s"] > 0 for r in log)
    assert (folder / TRAIN_LOG_NAME).read_text() == (options.out / TRAIN_LOG_NAME).read_text()
    assert (folder / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_smoke_run_exports_the_ema_weights_and_timm_loads_them(smoke):
    options, folder = smoke
    assert folder == options.out / "cifar_resnet20.rz_cifar10"
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    tensors, _ = load_checkpoint(options.out / CHECKPOINT_FILE)
    ema = {k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")}
    assert ema.keys() == model.state_dict().keys()
    assert all(torch.equal(v, ema[k]) for k, v in model.state_dict().items())
    card = (folder / "README.md").read_text()
    assert "resnet-zoo train --data DATA --out OUT --model cifar_resnet20" in card and "--subset 512" in card
    assert str(options.data) not in card and str(options.out) not in card
    details = read_card(folder / "README.md").details
    assert details["Training hardware"] == hardware(torch.device("cpu")) and details[EPOCHS_LABEL] == "2 of 2"
    assert details[CODE_LABEL] == f"epochs 1–2: commit {git_commit(Path(resnet_zoo.run.__file__))}"
    assert "Interim" not in card


def test_an_unfinished_run_exports_interim_weights_of_its_checkpoint(smoke, tmp_path):
    """`export_run` of a run stopped after epoch 1 of 2: that checkpoint's EMA weights and log, marked interim."""
    options, _ = smoke
    tensors, state = load_checkpoint(options.out / CHECKPOINT_FILE)
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / CHECKPOINT_FILE, tensors, dict(state, epoch=1, history=state["history"][:1]))
    shutil.copy(options.out / TRAIN_LOG_NAME, run / TRAIN_LOG_NAME)  # two lines: the export keeps the first
    folder = export_run(run)
    assert folder == run / "cifar_resnet20.rz_cifar10"
    card = read_card(folder / "README.md")
    assert card.details[EPOCHS_LABEL] == "1 of 2" and card.command == command_line(SMOKE)
    assert card.metrics["top1"] == state["history"][0]["test_top1"]
    assert "> **Interim weights, epoch 1 of 2.**" in (folder / "README.md").read_text()
    assert [r["epoch"] for r in read_log(folder)] == [1]
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert all(torch.equal(v, tensors[f"ema.{k}"]) for k, v in model.state_dict().items())
    # a checkpoint of the earlier layout (epoch, recipe, device_type, history) exports without hardware and code
    old = {k: state[k] for k in ("epoch", "recipe", "device_type", "history")}
    save_checkpoint(run / CHECKPOINT_FILE, tensors, old)
    card = read_card(export_run(run, tmp_path / "old").joinpath("README.md"))
    assert "Training hardware" not in card.details and CODE_LABEL not in card.details
    assert card.command == command_line(SMOKE)
    assert card.details[EPOCHS_LABEL] == "2 of 2" and card.metrics["top1"] == state["history"][1]["test_top1"]


def test_hardware_names_the_cpu_its_vector_unit_and_threads():
    cpu = hardware(torch.device("cpu"))
    assert re.fullmatch(r"CPU: .+, [A-Z0-9_]+(, AMX)?, (1 thread|\d+ threads)", cpu), cpu
    assert "unknown model" not in cpu
    previous = torch.get_num_threads()
    try:
        for threads, said in ((1, "1 thread"), (2, "2 threads")):
            torch.set_num_threads(threads)
            assert hardware(torch.device("cpu")).endswith(f", {said}")
    finally:
        torch.set_num_threads(previous)
    assert hardware(torch.device("cpu"), 4) == f"4 processes, each {cpu}"


@pytest.mark.parametrize("source", ["cifar_resnet20.rz_cifar10", CHECKPOINT_FILE])
def test_validate_of_the_smoke_run_agrees_with_its_log(smoke, capsys, source):
    options, _ = smoke
    assert main(["validate", "--model", "cifar_resnet20", "--checkpoint", str(options.out / source),
                 "--data", str(options.data), "--subset", "250", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    final = read_log(options.out)[-1]
    assert report["top1"] == final["test_top1"] and report["top5"] == final["test_top5"]
    assert report["loss"] == pytest.approx(final["test_loss"], rel=1e-6)


def test_the_card_of_a_finished_run_holds_the_exact_float32_metrics(smoke, capsys):
    """The card's numbers are the exported weights' as ``validate --precision fp32`` measures them, whatever
    precision the run trained and evaluated its epochs in (the log keeps those)."""
    options, folder = smoke
    assert main(["validate", "--model", "cifar_resnet20", "--checkpoint", str(folder), "--data", str(options.data),
                 "--subset", "250", "--device", "cpu", "--precision", "fp32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert read_card(folder / "README.md").metrics == dict(top1=report["top1"], top5=report["top5"],
                                                           loss=pytest.approx(report["loss"], rel=1e-6))


def test_a_float32_run_evaluates_its_last_epoch_once(cifar10_root, tmp_path, monkeypatch):
    """In float32 the last epoch's evaluation is already the exact one the card records: not evaluated again."""
    calls = []
    evaluate = resnet_zoo.engine.Training.evaluate
    monkeypatch.setattr(resnet_zoo.engine.Training, "evaluate",
                        lambda self, *args: calls.append(args) or evaluate(self, *args))
    recipe = replace(SMOKE, epochs=1, warmup_epochs=0, precision="fp32")
    result = train(recipe, RunOptions(data=cifar10_root, out=tmp_path / "run", device=CPU))
    assert len(calls) == 1
    assert read_card(result.folder / "README.md").metrics["top1"] == read_log(tmp_path / "run")[-1]["test_top1"]


def test_checkpoint_is_safetensors_with_the_whole_state(smoke):
    """The layout that checkpoints of earlier versions have, and that ``--resume`` reads."""
    options, _ = smoke
    path = options.out / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as f:
        keys, state = set(f.keys()), json.loads(f.metadata()[STATE_KEY])
    model_keys = set(timm.create_model("cifar_resnet20").state_dict())
    assert {k for k in keys if k.startswith("model.")} == {f"model.{k}" for k in model_keys}
    assert {k for k in keys if k.startswith("ema.")} == {f"ema.{k}" for k in model_keys}
    num_params = len(list(timm.create_model("cifar_resnet20").parameters()))
    assert {k for k in keys if k.startswith("optimizer.")} == \
        {f"optimizer.{i}.momentum_buffer" for i in range(num_params)}
    assert {k for k in keys if k.startswith("rng.")} == {"rng.cpu", "rng.data"}
    assert list(state) == ["epoch", "recipe", "device_type", "history", "tag", "classes", "sittings"]
    [sitting] = state["sittings"]
    assert sitting == dict(first_epoch=1, last_epoch=2, hardware=hardware(CPU), precision=SMOKE.precision,
                           commit=git_commit(Path(resnet_zoo.run.__file__)), wall_s=sitting["wall_s"], start="new")
    assert state["history"][-1]["wall_s"] <= sitting["wall_s"]
    assert state["tag"] == "rz_cifar10" and state["classes"][:2] == ["airplane", "automobile"]
    assert state["epoch"] == 2 and state["device_type"] == "cpu" and state["history"] == read_log(options.out)
    assert state["recipe"]["subset"] == 512 and state["recipe"]["lr"] == 0.1
    assert list(state["recipe"]) == ["model", "dataset", "epochs", "batch_size", "lr", "momentum", "wd",
                                     "warmup_epochs", "label_smoothing", "ema_decay", "cutout", "teacher",
                                     "distill_weight", "distill_temperature", "sync_bn", "precision", "seed",
                                     "subset", "test_subset"]
    assert not [p.name for p in options.out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_run_folder_files_follow_the_umask_as_the_export_does(smoke):
    options, folder = smoke
    mask = os.umask(0)
    os.umask(mask)
    files = [p for p in [*options.out.iterdir(), *folder.iterdir()] if p.is_file()]
    assert {options.out / CHECKPOINT_FILE, options.out / TRAIN_LOG_NAME} <= set(files)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: oct(0o666 & ~mask) for p in files}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_checkpoint_mode_is_0666_less_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        save_checkpoint(tmp_path / CHECKPOINT_FILE, {"model.w": torch.zeros(2)}, dict(epoch=1))
    finally:
        os.umask(previous)
    assert (tmp_path / CHECKPOINT_FILE).stat().st_mode & 0o777 == mode


def test_a_second_run_into_the_same_folder_is_refused(smoke, capsys):
    argv = train_argv(SMOKE, smoke[0])
    assert main(argv) == 1
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(argv + ["--resume", "--epochs", "3", "--lr", "0.2"]) == 1
    assert "was written by another recipe: --epochs 2 (run) vs 3 (now); --lr 0.1 (run) vs 0.2 (now)" \
        in capsys.readouterr().err


def test_cifar100_run_without_ema_exports_100_named_classes(tmp_path):
    root = write_cifar(tmp_path / "data", "cifar100", per_file=32)
    out = tmp_path / "run"
    recipe = Recipe(model="cifar_resnet20", dataset="cifar100", epochs=1, warmup_epochs=0, batch_size=16,
                    lr=default_lr(16), ema_decay=0)
    folder = train(recipe, RunOptions(data=root, out=out, device=CPU)).folder
    assert folder == out / "cifar_resnet20.rz_cifar100"
    config = json.loads((folder / "config.json").read_text())
    assert config["num_classes"] == 100
    assert config["pretrained_cfg"]["label_names"] == [f"class{c}" for c in range(100)]
    assert config["pretrained_cfg"]["mean"] == [0.5071, 0.4865, 0.4409]
    tensors, _ = load_checkpoint(out / CHECKPOINT_FILE)
    assert not [k for k in tensors if k.startswith("ema.")]
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert all(torch.equal(v, tensors[f"model.{k}"]) for k, v in model.state_dict().items())


def test_a_batch_larger_than_the_training_images_is_one_line_and_writes_nothing(tmp_path, capsys):
    data = write_cifar(tmp_path / "data", per_file=4)  # 20 training images
    assert main(["train", "--model", "cifar_resnet20", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--batch-size", "32", "--device", "cpu"]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo train: error: --batch-size 32 is more than the 20 training images "
                                       f"under {data}: an epoch would have no step\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_resume_without_a_checkpoint_is_an_error(capsys, tmp_path):
    assert main(["train", "--model", "cifar_resnet20", "--data", str(tmp_path), "--out", str(tmp_path / "x"),
                 "--resume"]) == 1
    assert f"--resume: there is no {tmp_path / 'x' / CHECKPOINT_FILE} to resume from" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_step_trains_like_the_eager_step():
    """The step the recipe compiles on CUDA (there with CUDA graphs) traces whole and computes the same."""
    generator = torch.Generator().manual_seed(0)
    split = CifarSplit(torch.randint(0, 256, (64, 32, 32, 3), dtype=torch.uint8, generator=generator),
                       torch.randint(0, 10, (64,), generator=generator), ())
    recipe = Recipe(model="cifar_resnet20", batch_size=32, epochs=2, warmup_epochs=1)
    results = []
    for compile in (False, True):
        training = build_training(recipe, torch.device("cpu"), compile=compile)
        loader = training.loaders(split, split)[0]
        results.append(([train_one_epoch(training, loader, epoch)["train_loss"] for epoch in range(2)],
                        training.eval_model.state_dict()))
    (eager_losses, eager_weights), (compiled_losses, compiled_weights) = results
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-5)
    for key, value in eager_weights.items():
        torch.testing.assert_close(compiled_weights[key], value, atol=1e-3, rtol=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# killed and resumed


RESUME = Recipe(model="cifar_resnet20", epochs=2, subset=64, batch_size=32, lr=default_lr(32), warmup_epochs=1,
                test_subset=50, seed=3)


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def precision(request) -> str:
    return request.param


def resumable(precision: str) -> Recipe:
    return replace(RESUME, precision=precision)


@pytest.fixture(scope="module")
def killed(cifar10_root, tmp_path_factory, precision):
    """A ``resnet-zoo train`` process killed with SIGKILL once its first epoch is logged; returns its folder."""
    out = tmp_path_factory.mktemp("killed") / "run"
    argv = train_argv(resumable(precision), RunOptions(cifar10_root, out))
    process = subprocess.Popen([sys.executable, "-m", "resnet_zoo.commands.cli", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not ((out / TRAIN_LOG_NAME).is_file() and (out / TRAIN_LOG_NAME).read_text().count("\n") >= 1):
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the first epoch took more than 5 minutes"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    process.stdout.close()
    return out


@pytest.fixture(scope="module")
def uninterrupted(cifar10_root, tmp_path_factory, precision):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(resumable(precision), RunOptions(data=cifar10_root, out=out, device=CPU))
    return out


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(killed, uninterrupted, cifar10_root, tmp_path,
                                                                    precision, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    state = load_checkpoint(out / CHECKPOINT_FILE)[1]
    assert state["epoch"] == 1  # killed mid-way
    assert state["recipe"]["precision"] == precision
    started_by = git_commit(Path(resnet_zoo.run.__file__))
    assert [(s["first_epoch"], s["last_epoch"], s["commit"]) for s in state["sittings"]] == [(1, 1, started_by)]

    monkeypatch.setattr("resnet_zoo.run.git_commit", lambda file: f"next to {file.name}")  # resumed by other code
    train(resumable(precision), RunOptions(data=cifar10_root, out=out, resume=True, device=CPU))
    sittings = load_checkpoint(out / CHECKPOINT_FILE)[1]["sittings"]
    assert [(s["first_epoch"], s["last_epoch"], s["commit"], s["start"]) for s in sittings] == \
        [(1, 1, started_by, "new"), (2, 2, "next to run.py", "exact")]
    assert read_card(out / "cifar_resnet20.rz_cifar10" / "README.md").details[CODE_LABEL] == \
        f"epoch 1: commit {started_by}; epoch 2: commit next to run.py"

    resumed, expected = load_file(out / CHECKPOINT_FILE), load_file(uninterrupted / CHECKPOINT_FILE)
    assert resumed.keys() == expected.keys()
    assert [k for k in expected if not torch.equal(resumed[k], expected[k])] == []

    def without_timing(log):
        return [{k: v for k, v in r.items() if k not in ("img_per_s", "wall_s")} for r in log]
    assert without_timing(read_log(out)) == without_timing(read_log(uninterrupted))
    exported = "cifar_resnet20.rz_cifar10/model.safetensors"
    resumed_model, expected_model = load_file(out / exported), load_file(uninterrupted / exported)
    assert all(torch.equal(resumed_model[k], v) for k, v in expected_model.items())


def test_resume_at_another_precision_is_a_sitting_of_its_own(killed, cifar10_root, tmp_path, precision):
    """Precision is how fast a sitting computes, not what: a resumed sitting may choose another, and says so."""
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    other = "fp32" if precision == "bf16" else "bf16"
    assert main([*train_argv(resumable(other), RunOptions(cifar10_root, out)), "--resume"]) == 0
    state = load_checkpoint(out / CHECKPOINT_FILE)[1]
    assert [(s["first_epoch"], s["precision"]) for s in state["sittings"]] == [(1, precision), (2, other)]
    card = (out / "cifar_resnet20.rz_cifar10" / "README.md").read_text()
    assert f"| 1 | {hardware(CPU)} | {precision} |" in card and f"| 2 | {hardware(CPU)} | {other} |" in card


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(killed, cifar10_root, tmp_path, precision):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    tensors, state = load_checkpoint(out / CHECKPOINT_FILE)
    tensors["model.fc.weight"] = torch.full_like(tensors["model.fc.weight"], float("nan"))
    save_checkpoint(out / CHECKPOINT_FILE, tensors, state)
    poisoned = (out / CHECKPOINT_FILE).read_bytes()
    epoch = state["epoch"]

    with pytest.raises(TrainingDiverged) as diverged:
        train(resumable(precision), RunOptions(data=cifar10_root, out=out, resume=True, device=CPU))

    assert str(diverged.value).startswith(f"epoch {epoch + 1}: train_loss is nan")
    assert f"training stopped. Last good checkpoint: {out / CHECKPOINT_FILE} (epoch {epoch})" in str(diverged.value)
    assert (out / CHECKPOINT_FILE).read_bytes() == poisoned
    assert [r["epoch"] for r in read_log(out)] == list(range(1, epoch + 1))
    folder = out / "cifar_resnet20.rz_cifar10"  # no weights; what it keeps is the killed process's run state
    assert not (folder / "model.safetensors").exists()
    assert not run_state_file(folder).exists() or load_checkpoint(run_state_file(folder))[1]["epoch"] == epoch


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed on two cores or more")
def test_training_uses_every_core_the_process_may_run_on():
    """torch's thread count follows the CPU affinity (a cgroup or taskset limit), and importing the recipe leaves
    it so: one thread on one allowed core, torch's own default (one per physical core) on all of them."""
    code = ("import json, os, sys\n"
            "if sys.argv[1] == 'one': os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])\n"
            "import torch\n"
            "if sys.argv[2] == 'recipe': import resnet_zoo.run\n"
            "print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def threads(cores: str, imported: str) -> int:
        return int(subprocess.run([sys.executable, "-c", code, cores, imported], capture_output=True, text=True,
                                  check=True, env=env).stdout)

    assert threads("one", "recipe") == 1
    assert threads("all", "recipe") == threads("all", "torch") >= 2
