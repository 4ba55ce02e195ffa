"""The training recipe on CPU: schedule and optimizer, a two-epoch smoke run that exports a loadable model, a
CIFAR-100 run, runs (fp32 and bf16) killed with SIGKILL and resumed to the same weights, a diverging run, and bad
options."""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from resnet_zoo.checkpoint import STATE_KEY, load_checkpoint, save_checkpoint
from resnet_zoo.cli import DefaultsHelpFormatter, build_parser, main
from resnet_zoo.data import CifarSplit
from resnet_zoo.errors import ZooError
from resnet_zoo.train_log import LOG_KEYS
from resnet_zoo.train import (
    CHECKPOINT_FILE, TRAIN_LOG_NAME, Recipe, build_training, create_optimizer, train, train_arguments, train_one_epoch,
)

from fake_cifar import write_cifar

CPU = torch.device("cpu")


def parse(*argv: str):
    argv = ["train", *argv]
    return build_parser(argv).parse_args(argv)


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
    assert Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d"), CPU).lr == 0.4 == Recipe().lr
    assert Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d", "--batch-size", "64"), CPU).lr == 0.05
    assert Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d", "--lr", "0.3"), CPU).lr == 0.3


def test_default_warmup_adapts_to_short_runs():
    assert [Recipe(epochs=e).warmup_epochs for e in (1, 2, 3, 10, 24, 49, 50, 200)] == [0, 0, 0, 1, 2, 4, 5, 5]
    recipe = Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d", "--epochs", "1"), CPU)
    assert (recipe.epochs, recipe.warmup_epochs) == (1, 0)
    assert Recipe(epochs=3, warmup_epochs=2).warmup_epochs == 2


def test_precision_auto_is_resolved_for_the_device(monkeypatch):
    for native in (False, True):
        monkeypatch.setattr("resnet_zoo.train.resolve_precision",
                            lambda p, device: ("bf16" if native else "fp32") if p == "auto" else p)
        recipe = Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d"), CPU)
        assert recipe.precision == ("bf16" if native else "fp32")
        assert Recipe.from_args(parse("--model", "cifar_resnet20", "--data", "d", "--precision", "fp32"),
                                CPU).precision == "fp32"
    with pytest.raises(ZooError, match="--precision must be bf16 or fp32"):
        Recipe(precision="auto")


def test_help_shows_every_default():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    train_arguments(parser)
    text = " ".join(parser.format_help().split())
    shown = [a.dest for a in parser._actions if a.option_strings and a.default is not None
             and a.default is not False and a.dest != "help"]
    assert shown == ["dataset", "epochs", "batch_size", "momentum", "wd", "label_smoothing", "ema_decay", "cutout",
                     "precision", "seed", "workers"]
    assert [d for d in shown if f"(default: {parser.get_default(d)})" not in text] == []
    assert "--lr LR peak learning rate (default: 0.1 x batch size / 128)" in text
    assert "--warmup-epochs N linear learning-rate warmup (default: epochs / 10, at most 5)" in text


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


SMOKE_OPTIONS = ["--model", "cifar_resnet20", "--epochs", "2", "--subset", "512", "--batch-size", "128",
                 "--warmup-epochs", "1", "--test-subset", "250"]


@pytest.fixture(scope="module")
def smoke(cifar10_root, tmp_path_factory):
    """``train`` called in-process for two epochs on 512 images; returns (args, exported folder)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    args = parse("--data", str(cifar10_root), "--out", str(out), *SMOKE_OPTIONS)
    return args, train(args)


def test_smoke_run_logs_each_epoch(smoke):
    args, folder = smoke
    log = read_log(args.out)
    assert [list(r) for r in log] == [list(LOG_KEYS)] * 2
    assert [r["epoch"] for r in log] == [1, 2]
    recipe = Recipe.from_args(args, CPU)
    assert [r["lr"] for r in log] == [recipe.lr_at(3, 4), recipe.lr_at(7, 4)]
    assert 0 < log[0]["wall_s"] < log[1]["wall_s"]
    assert all(math.isfinite(r["train_loss"]) and r["img_per_s"] > 0 for r in log)
    assert (folder / TRAIN_LOG_NAME).read_text() == (args.out / TRAIN_LOG_NAME).read_text()
    assert (folder / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_smoke_run_exports_the_ema_weights_and_timm_loads_them(smoke):
    args, folder = smoke
    assert folder == args.out / "cifar_resnet20.rz_cifar10"
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    tensors, _ = load_checkpoint(args.out / CHECKPOINT_FILE)
    ema = {k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")}
    assert ema.keys() == model.state_dict().keys()
    assert all(torch.equal(v, ema[k]) for k, v in model.state_dict().items())
    card = (folder / "README.md").read_text()
    assert "resnet-zoo train --data" in card and "--subset 512" in card


@pytest.mark.parametrize("source", ["cifar_resnet20.rz_cifar10", CHECKPOINT_FILE])
def test_validate_of_the_smoke_run_agrees_with_its_log(smoke, capsys, source):
    args, _ = smoke
    assert main(["validate", "--model", "cifar_resnet20", "--checkpoint", str(args.out / source),
                 "--data", str(args.data), "--subset", "250", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    final = read_log(args.out)[-1]
    assert report["top1"] == final["test_top1"] and report["top5"] == final["test_top5"]
    assert report["loss"] == pytest.approx(final["test_loss"], rel=1e-6)


def test_checkpoint_is_safetensors_with_the_whole_state(smoke):
    args, _ = smoke
    path = args.out / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as f:
        keys, state = set(f.keys()), json.loads(f.metadata()[STATE_KEY])
    model_keys = set(timm.create_model("cifar_resnet20").state_dict())
    assert {k for k in keys if k.startswith("model.")} == {f"model.{k}" for k in model_keys}
    assert {k for k in keys if k.startswith("ema.")} == {f"ema.{k}" for k in model_keys}
    num_params = len(list(timm.create_model("cifar_resnet20").parameters()))
    assert {k for k in keys if k.startswith("optimizer.")} == \
        {f"optimizer.{i}.momentum_buffer" for i in range(num_params)}
    assert {k for k in keys if k.startswith("rng.")} == {"rng.cpu", "rng.data"}
    assert state["epoch"] == 2 and state["device_type"] == "cpu" and state["history"] == read_log(args.out)
    assert state["recipe"]["subset"] == 512 and state["recipe"]["lr"] == 0.1
    assert not [p.name for p in args.out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_run_folder_files_follow_the_umask_as_the_export_does(smoke):
    args, folder = smoke
    mask = os.umask(0)
    os.umask(mask)
    files = [p for p in [*args.out.iterdir(), *folder.iterdir()] if p.is_file()]
    assert {args.out / CHECKPOINT_FILE, args.out / TRAIN_LOG_NAME} <= set(files)
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
    args, _ = smoke
    argv = ["train", "--data", str(args.data), "--out", str(args.out), *SMOKE_OPTIONS]
    assert main(argv) == 1
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(argv + ["--resume", "--epochs", "3", "--lr", "0.2"]) == 1
    assert "was written by another recipe: --epochs 2 (checkpoint) vs 3 (now); --lr 0.1 (checkpoint) vs 0.2 (now)" \
        in capsys.readouterr().err


def test_cifar100_run_without_ema_exports_100_named_classes(tmp_path):
    root = write_cifar(tmp_path / "data", "cifar100", per_file=32)
    out = tmp_path / "run"
    folder = train(parse("--model", "cifar_resnet20", "--dataset", "cifar100", "--data", str(root), "--out", str(out),
                         "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "16", "--ema-decay", "0"))
    assert folder == out / "cifar_resnet20.rz_cifar100"
    config = json.loads((folder / "config.json").read_text())
    assert config["num_classes"] == 100
    assert config["pretrained_cfg"]["label_names"] == [f"class{c}" for c in range(100)]
    assert config["pretrained_cfg"]["mean"] == [0.5071, 0.4865, 0.4409]
    tensors, _ = load_checkpoint(out / CHECKPOINT_FILE)
    assert not [k for k in tensors if k.startswith("ema.")]
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert all(torch.equal(v, tensors[f"model.{k}"]) for k, v in model.state_dict().items())


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


RESUME_OPTIONS = ["--model", "cifar_resnet20", "--epochs", "2", "--subset", "64", "--batch-size", "32",
                  "--warmup-epochs", "1", "--test-subset", "50", "--seed", "3"]


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def precision(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def killed(cifar10_root, tmp_path_factory, precision):
    """A ``resnet-zoo train`` process killed with SIGKILL once its first epoch is logged; returns its folder."""
    out = tmp_path_factory.mktemp("killed") / "run"
    command = [sys.executable, "-m", "resnet_zoo.cli", "train", "--data", str(cifar10_root), "--out", str(out),
               *RESUME_OPTIONS, "--precision", precision]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    train(parse("--data", str(cifar10_root), "--out", str(out), *RESUME_OPTIONS, "--precision", precision))
    return out


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(killed, uninterrupted, cifar10_root, tmp_path,
                                                                    precision):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    state = load_checkpoint(out / CHECKPOINT_FILE)[1]
    assert state["epoch"] == 1  # killed mid-way
    assert state["recipe"]["precision"] == precision

    train(parse("--data", str(cifar10_root), "--out", str(out), "--resume", *RESUME_OPTIONS, "--precision", precision))

    resumed, expected = load_file(out / CHECKPOINT_FILE), load_file(uninterrupted / CHECKPOINT_FILE)
    assert resumed.keys() == expected.keys()
    assert [k for k in expected if not torch.equal(resumed[k], expected[k])] == []

    def without_timing(log):
        return [{k: v for k, v in r.items() if k not in ("img_per_s", "wall_s")} for r in log]
    assert without_timing(read_log(out)) == without_timing(read_log(uninterrupted))
    exported = "cifar_resnet20.rz_cifar10/model.safetensors"
    resumed_model, expected_model = load_file(out / exported), load_file(uninterrupted / exported)
    assert all(torch.equal(resumed_model[k], v) for k, v in expected_model.items())


def test_resume_at_another_precision_is_refused(killed, cifar10_root, capsys, precision):
    other = "fp32" if precision == "bf16" else "bf16"
    assert main(["train", "--data", str(cifar10_root), "--out", str(killed), "--resume", *RESUME_OPTIONS,
                 "--precision", other]) == 1
    assert f"--precision {precision} (checkpoint) vs {other} (now)" in capsys.readouterr().err


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(killed, cifar10_root, tmp_path, capsys, precision):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    tensors, state = load_checkpoint(out / CHECKPOINT_FILE)
    tensors["model.fc.weight"] = torch.full_like(tensors["model.fc.weight"], float("nan"))
    save_checkpoint(out / CHECKPOINT_FILE, tensors, state)
    poisoned = (out / CHECKPOINT_FILE).read_bytes()
    epoch = state["epoch"]

    assert main(["train", "--data", str(cifar10_root), "--out", str(out), "--resume", *RESUME_OPTIONS,
                 "--precision", precision]) == 1

    err = capsys.readouterr().err
    assert f"error: epoch {epoch + 1}: train_loss is nan" in err
    assert f"training stopped. Last good checkpoint: {out / CHECKPOINT_FILE} (epoch {epoch})" in err
    assert (out / CHECKPOINT_FILE).read_bytes() == poisoned
    assert [r["epoch"] for r in read_log(out)] == list(range(1, epoch + 1))
    assert not (out / "cifar_resnet20.rz_cifar10").exists()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed on two cores or more")
def test_training_uses_every_core_the_process_may_run_on():
    """torch's thread count follows the CPU affinity (a cgroup or taskset limit), and importing the recipe leaves
    it so: one thread on one allowed core, torch's own default (one per physical core) on all of them."""
    code = ("import json, os, sys\n"
            "if sys.argv[1] == 'one': os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])\n"
            "import torch\n"
            "if sys.argv[2] == 'recipe': import resnet_zoo.train\n"
            "print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def threads(cores: str, imported: str) -> int:
        return int(subprocess.run([sys.executable, "-c", code, cores, imported], capture_output=True, text=True,
                                  check=True, env=env).stdout)

    assert threads("one", "recipe") == 1
    assert threads("all", "recipe") == threads("all", "torch") >= 2
