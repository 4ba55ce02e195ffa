"""A run kept in its Hub model folder: sittings that continue it from ``last-checkpoint/`` (a local folder or a Hub
repo in huggingface_hub's offline cache), the time budget that ends a sitting at an epoch boundary, shipped weights
that unfinished or weaker runs never displace, what ``verify`` and ``publish`` make of the sub-folder, and the
errors of bad input. Runs train cifar_resnet20 on a small fake CIFAR-10 (5 steps of 16 images an epoch)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

import resnet_zoo
from resnet_zoo.budget import Budget, parse_duration
from resnet_zoo.cards import read_card
from resnet_zoo.checkpoint import STATE_KEY, load_checkpoint, save_checkpoint
from resnet_zoo.commands.cli import main
from resnet_zoo.constants import LAST_CHECKPOINT
from resnet_zoo.engine import Training
from resnet_zoo.errors import WeightsError, ZooError
from resnet_zoo.grow import grow_state_dict
from resnet_zoo.hub import export, publish_files, verify
from resnet_zoo.recipe import Recipe, default_lr
from resnet_zoo.run import RunOptions, train
from resnet_zoo.run_state import RESTARTS, RUN_FILES, data_seed, read_sittings_table, run_state_file, sittings_table
from resnet_zoo.train_log import TRAIN_LOG_NAME
from resnet_zoo.weights import read_metadata

from fake_cifar import write_cifar
from hf_cache import add_to_hf_cache
from shipped import HUB

CPU = torch.device("cpu")
RECIPE = Recipe(model="cifar_resnet20", epochs=4, batch_size=16, lr=default_lr(16), warmup_epochs=1,
                precision="fp32", seed=1)
NAME = "cifar_resnet20.rz_cifar10"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("data"), per_file=16)


def lrs(history) -> list:
    return [r["lr"] for r in history]


def state_of(folder: Path) -> dict:
    return load_checkpoint(run_state_file(folder))[1]


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """The four epochs of `RECIPE` in one sitting."""
    return train(RECIPE, RunOptions(data=data, out=tmp_path_factory.mktemp("whole") / "run", device=CPU))


@pytest.fixture()
def stopped(data, tmp_path) -> Path:
    """A model folder keeping `RECIPE` after its first sitting stopped at epoch 2 of 4, as a time budget stops it."""
    hub = tmp_path / NAME
    with pytest.MonkeyPatch.context() as patch:
        original = Budget.next_epoch_fits
        patch.setattr(Budget, "next_epoch_fits", lambda self: len(self.epochs) < 2 and original(self))
        result = train(RECIPE, RunOptions(data=data, out=tmp_path / "run1", hub_folder=hub, device=CPU,
                                          time_budget=3600.))
    assert (result.epoch, result.epochs, result.exported) == (2, 4, False)
    return hub


# ---------------------------------------------------------------------------------------------------------------
# durations and the budget's clock


@pytest.mark.parametrize("text, seconds", [("2h20m", 8400), ("90m", 5400), ("1.5h", 5400), ("45s", 45),
                                           ("1h2m3s", 3723), ("10min", 600), ("5400", 5400), (" 2h 20m ", 8400)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, reason", [("", "is not a duration"), ("soon", "is not a duration"),
                                          ("2d", "is not a duration"), ("h", "is not a duration"),
                                          ("-5m", "is not a duration"), ("1h-2m", "is not a duration"),
                                          ("0s", "must be above zero")])
def test_a_bad_duration_is_one_line_naming_it(text, reason):
    with pytest.raises(ZooError, match=f"^--time-budget '{re.escape(text)}' {reason}") as error:
        parse_duration(text)
    assert "\n" not in str(error.value)


def test_the_budget_starts_an_epoch_only_if_the_slowest_recent_one_still_fits():
    now = [0.]
    budget = Budget(200., start=0., clock=lambda: now[0])
    assert budget.next_epoch_fits()  # nothing timed yet
    for seconds in (60., 10., 10., 10.):  # a first epoch that others slowed down, then three quick ones
        budget.start_epoch()
        now[0] += seconds
        budget.end_epoch(training_end=now[0] - 1.)
    assert budget.epochs == [60., 10., 10., 10.] and budget.tails == [1.] * 4
    now[0] = 189.
    assert budget.next_epoch_fits()  # 189 + 1.1 x 10 = 200: the slow epoch is no longer among the last three
    now[0] = 189.5
    assert not budget.next_epoch_fits()


def test_the_budget_gives_an_epoch_up_when_its_pace_would_end_past_the_deadline():
    now = [0.]
    budget = Budget(100., start=0., clock=lambda: now[0])
    budget.start_epoch()
    for done in range(1, 4):  # warm-up steps: slow, and not judged by their pace
        now[0] = 20. * done
        assert not budget.stop(done, 10)
    now[0] = 62.  # 2 s a step from now on: 62 + 6 x 2 = 74 of training, a fourth of it kept for the evaluation
    assert not budget.stop(4, 10) and budget.projection == pytest.approx(74 * 1.25)
    now[0] = 70.  # 5 s a step since the warm-up, the next as slow as the slowest (8 s): 70 + 4 x 5 + 8 = 98
    assert budget.stop(5, 10) and budget.projection == pytest.approx(98 * 1.25)


def test_a_while_of_slow_steps_gives_an_epoch_up_only_once_the_sittings_own_pace_would_not_end_it():
    """Steps that others slowed down from 1 s to 20 s: the epoch goes on while its remaining steps at the pace of
    the sitting's earlier epoch would still end it in time (the old rule, 20 s a step from then on, gave it up at
    once), and is given up before the deadline once even that pace would not."""
    now = [0.]
    budget = Budget(100., start=0., clock=lambda: now[0])
    budget.start_epoch()
    for done in range(1, 11):  # a whole epoch at 1 s a step, then 1 s of evaluation and checkpoints
        now[0] = float(done)
        assert not budget.stop(done, 10)
    now[0] = 11.
    budget.end_epoch(training_end=10.)
    assert budget.paces == [1.] and budget.tails == [1.]
    budget.start_epoch()
    for done in range(1, 4):  # warm-up steps at 1 s
        now[0] = 11. + done
        assert not budget.stop(done, 10)
    stops = []
    for done in range(4, 8):  # 20 s a step from now on
        now[0] += 20.
        stops.append(budget.stop(done, 10))
    assert stops == [False, False, False, True] and now[0] == 94.  # 94 + 2 x 1 + 20 (this pace) + 1.1 > 100
    assert budget.projection == pytest.approx(83. + 2. + 20. + 1.1)


# ---------------------------------------------------------------------------------------------------------------
# sittings through the model folder


def test_the_sittings_table_says_how_each_sitting_computed_and_reads_back():
    common = dict(hardware="CPU: Xeon, 2 threads", commit="0123456789abcdef", wall_s=120.)
    sittings = [dict(common, first_epoch=1, last_epoch=7, precision="fp32", start="new"),
                dict(common, first_epoch=8, last_epoch=8, precision="bf16", probe="auto, probed: bf16 3 img/s",
                     compiled=True, start="hub")]
    table = sittings_table(sittings)
    assert table[2:] == ["| 1–7 | CPU: Xeon, 2 threads | fp32 | 0123456789ab | 0 h 02 min (120 s) | new run |",
                         "| 8 | CPU: Xeon, 2 threads | bf16 (auto, probed: bf16 3 img/s), compiled | 0123456789ab | "
                         "0 h 02 min (120 s) | continued from the model folder |"]
    assert read_sittings_table("\n".join(table)) == [dict(first_epoch=1, last_epoch=7, start="new"),
                                                      dict(first_epoch=8, last_epoch=8, start="hub")]


def test_a_sitting_keeps_the_run_in_its_model_folder_at_twice_the_size_of_the_weights(stopped, tmp_path):
    assert sorted(p.name for p in stopped.iterdir()) == [LAST_CHECKPOINT]
    assert sorted(p.name for p in (stopped / LAST_CHECKPOINT).iterdir()) == sorted(RUN_FILES)
    tensors, state = load_checkpoint(run_state_file(stopped))
    weights = {k: v for k, v in tensors.items() if k.startswith("model.")}
    assert {k for k in tensors} == set(weights) | {"ema" + k[len("model"):] for k in weights}
    assert all(v.dtype in (torch.float32, torch.int64) for v in tensors.values())
    size = sum(v.numel() * v.element_size() for v in tensors.values())
    assert size == 2 * sum(v.numel() * v.element_size() for v in weights.values())
    save_file({k[len("model."):]: v for k, v in weights.items()}, tmp_path / "weights.safetensors")
    # beyond twice the weights file: the run's JSON (its log grows by a line an epoch) and the header's bookkeeping
    # (the names' prefixes, longer offsets)
    extra = len(json.dumps(json.dumps(state))) + 16 * len(tensors)
    assert run_state_file(stopped).stat().st_size <= 2 * (tmp_path / "weights.safetensors").stat().st_size + extra
    assert state["epoch"] == 2 and [s["start"] for s in state["sittings"]] == ["new"]
    readme = (stopped / LAST_CHECKPOINT / "README.md").read_text()
    assert "Epoch 2 of 4" in readme and f"resnet-zoo train --resume {stopped} --data DATA" in readme
    assert RESTARTS in readme


def test_the_next_sitting_continues_from_the_folder_on_the_schedule(stopped, uninterrupted, data, tmp_path):
    result = train(RECIPE, RunOptions(data=data, out=tmp_path / "run2", resume=str(stopped), device=CPU))
    assert (result.folder, result.epoch, result.exported) == (stopped, 4, True)
    log = [json.loads(line) for line in (stopped / TRAIN_LOG_NAME).read_text().splitlines()]
    whole = [json.loads(line) for line in (uninterrupted.folder / TRAIN_LOG_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert lrs(log) == lrs(whole)  # the learning rate of epoch k is the uninterrupted schedule's
    assert log[:2] == state_of_log(tmp_path / "run1")[:2]  # the first sitting's epochs, as it logged them
    assert log[-1]["wall_s"] > log[1]["wall_s"]
    assert not (stopped / LAST_CHECKPOINT).exists()  # the finished run is shipped: its state goes
    card = read_card(stopped / "README.md")
    assert card.details["Training epochs"] == "4 of 4"
    assert card.sittings == [dict(first_epoch=1, last_epoch=2, start="new"),
                             dict(first_epoch=3, last_epoch=4, start="hub")]
    text = (stopped / "README.md").read_text()
    assert "| 1–2 |" in text and "| 3–4 |" in text and "| new run |" in text
    assert "| continued from the model folder |" in text and RESTARTS in text
    verify(stopped)


def state_of_log(run: Path) -> list:
    return [json.loads(line) for line in (run / TRAIN_LOG_NAME).read_text().splitlines()]


def test_a_continued_sitting_starts_from_the_model_and_ema_with_fresh_momentum(stopped, data, tmp_path, monkeypatch):
    tensors = load_checkpoint(run_state_file(stopped))[0]
    seen = {}
    load_weights = Training.load_weights

    def load_and_stop(training, state_tensors, seed):
        load_weights(training, state_tensors, seed)
        seen.update(training=training, seed=seed)
        raise KeyboardInterrupt  # what was loaded is the subject, not the epochs after it

    monkeypatch.setattr(Training, "load_weights", load_and_stop)
    with pytest.raises(KeyboardInterrupt):
        train(RECIPE, RunOptions(data=data, out=tmp_path / "run2", resume=str(stopped), device=CPU))
    training = seen["training"]
    assert all(torch.equal(v, tensors[f"model.{k}"]) for k, v in training.model.state_dict().items())
    assert all(torch.equal(v, tensors[f"ema.{k}"]) for k, v in training.ema.module.state_dict().items())
    assert not torch.equal(tensors["model.fc.weight"], tensors["ema.fc.weight"])
    assert training.optimizer.state_dict()["state"] == {}  # momentum restarts
    assert seen["seed"] == data_seed(RECIPE.seed, 2) != data_seed(RECIPE.seed, 0)


def test_a_run_continues_from_a_hub_repo_in_the_offline_cache(stopped, data, tmp_path):
    hf_home = tmp_path / "hf"
    add_to_hf_cache(hf_home, f"someone/{NAME}", stopped)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    here = tmp_path / "here" / NAME
    run = subprocess.run([sys.executable, "-m", "resnet_zoo", "train", "--resume", f"hf-hub:someone/{NAME}",
                          "--data", str(data), "--out", str(tmp_path / "run2"), "--hub-folder", str(here),
                          "--device", "cpu", "--precision", "fp32"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == f"exported {here}"
    assert [s["start"] for s in read_card(here / "README.md").sittings] == ["new", "hub"]
    missing = subprocess.run([sys.executable, "-m", "resnet_zoo", "train", "--resume", "hf-hub:someone/other",
                              "--data", str(data), "--device", "cpu"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert missing.returncode == 1
    assert missing.stderr.startswith("resnet-zoo train: error: --resume hf-hub:someone/other: its run state could "
                                     "not be fetched")


def test_the_budget_ends_a_sitting_on_time_with_one_line_and_the_command_that_continues(data, tmp_path, capsys):
    hub = tmp_path / NAME
    recipe = replace(RECIPE, epochs=1000)
    result = train(recipe, RunOptions(data=data, out=tmp_path / "run", hub_folder=hub, device=CPU, time_budget=4.))
    assert 1 <= result.epoch == state_of(hub)["epoch"] < 1000 and not result.exported
    argv = ["train", "--resume", str(hub), "--data", str(data), "--out", str(tmp_path / "run2"), "--device", "cpu",
            "--time-budget", "6s"]
    assert main(argv) == 0, capsys.readouterr().err
    line = capsys.readouterr().out.splitlines()[-1]
    epoch = state_of(hub)["epoch"]
    assert epoch > result.epoch
    assert line.startswith(f"stopped after epoch {epoch} of 1000 (top-1 ")
    assert line.endswith(f"continue it with: resnet-zoo train --resume {hub} --data DATA --out OUT "
                         f"--time-budget DURATION")


def test_a_budget_too_short_for_one_epoch_says_how_long_one_takes_and_writes_nothing(data, tmp_path, capsys):
    argv = ["train", "--model", "cifar_resnet56", "--data", str(data), "--batch-size", "16", "--out",
            str(tmp_path / "run"), "--device", "cpu", "--time-budget", "0.2s"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo train: error: --time-budget 0 h 00 min (0 s) is too short for one epoch "
                          "here: epoch 1 with its evaluation would take about ")
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------------------------
# shipped weights stay unless beaten


def ship(folder: Path, top1: float) -> None:
    """Give model folder ``folder`` shipped weights whose card says ``top1``."""
    export(timm.create_model("cifar_resnet20"), folder, tag="rz_cifar10", dataset="cifar10",
           metrics=dict(top1=top1, top5=100.))


@pytest.mark.parametrize("shipped_top1, exported", [(100., False), (0., True)])
def test_a_finished_run_replaces_shipped_weights_only_if_it_scores_higher(stopped, data, tmp_path, shipped_top1,
                                                                         exported, capsys):
    ship(stopped, shipped_top1)
    shipped = (stopped / "model.safetensors").read_bytes()
    assert verify(stopped)["run"]["epoch"] == 2  # the unfinished run sits beside them
    argv = ["train", "--resume", str(stopped), "--data", str(data), "--out", str(tmp_path / "run2"), "--device",
            "cpu"]
    assert main(argv) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert ((stopped / "model.safetensors").read_bytes() != shipped) == exported
    assert (stopped / LAST_CHECKPOINT).exists() != exported
    if exported:
        assert line == f"exported {stopped}"
    else:
        assert line.startswith("finished epoch 4 of 4 at top-1 ") and "the weights in" in line
        assert state_of(stopped)["epoch"] == 4 and verify(stopped)["run"]["epoch"] == 4
        assert main(argv[:-2] + ["--out", str(tmp_path / "run3"), "--device", "cpu"]) == 1
        assert "is finished (epoch 4 of 4); start a new cycle from its weights" in capsys.readouterr().err


def test_a_new_cycle_lives_beside_the_shipped_weights_it_starts_from(data, tmp_path, capsys):
    """``--init`` and ``--hub-folder`` the same folder (how cifar_resnet20.rz_cifar10 gets its next cycle): the run
    starts from the shipped weights, keeps its state beside them, and they stay until it beats them."""
    folder = tmp_path / "cifar_resnet20.rz_cifar10"
    shutil.copytree(HUB / folder.name, folder, ignore=shutil.ignore_patterns(LAST_CHECKPOINT))  # its weights alone
    shipped = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    argv = ["train", "--model", "cifar_resnet20", "--init", str(folder), "--hub-folder", str(folder), "--data",
            str(data), "--epochs", "2", "--batch-size", "16", "--out", str(tmp_path / "run"), "--device", "cpu",
            "--precision", "fp32"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"starting from cifar_resnet20.rz_cifar10 ({folder}, commit ")
    assert out[-1].startswith("finished epoch 2 of 2 at top-1 ") and "the weights in" in out[-1]
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == shipped
    state = state_of(folder)
    assert state["epoch"] == 2 and state["init"]["weights"].startswith("cifar_resnet20.rz_cifar10 (")


def test_export_keeps_the_run_beside_the_weights_it_replaces(stopped):
    ship(stopped, 50.)
    before = {p.name: p.read_bytes() for p in (stopped / LAST_CHECKPOINT).iterdir()}
    ship(stopped, 60.)
    assert {p.name: p.read_bytes() for p in (stopped / LAST_CHECKPOINT).iterdir()} == before


# ---------------------------------------------------------------------------------------------------------------
# verify and publish


def test_verify_and_publish_know_the_run(stopped, capsys):
    info = verify(stopped)
    assert info["architecture"] == "cifar_resnet20" and info["tag"] == "rz_cifar10" and info["files"] == {}
    assert info["run"] == dict(epoch=2, epochs=4, top1=state_of(stopped)["history"][-1]["test_top1"])
    assert main(["verify", str(stopped)]) == 0
    assert f"{LAST_CHECKPOINT}/: a run at epoch 2 of 4" in capsys.readouterr().out
    files = publish_files(stopped, f"someone/{NAME}")
    assert [f.relative_to(stopped).as_posix() for f in files] == sorted(f"{LAST_CHECKPOINT}/{n}" for n in RUN_FILES)
    ship(stopped, 10.)
    assert len(publish_files(stopped, f"someone/{NAME}")) == 3 + len(RUN_FILES)  # config, weights, card; the run


def _other_log(folder: Path) -> None:
    log = folder / LAST_CHECKPOINT / TRAIN_LOG_NAME
    log.write_text(log.read_text().splitlines()[0] + "\n")


def _stray_file(folder: Path) -> None:
    (folder / LAST_CHECKPOINT / "optimizer.pt").write_bytes(b"")


def _other_model(folder: Path) -> None:
    tensors, state = load_checkpoint(run_state_file(folder))
    save_checkpoint(run_state_file(folder), tensors, dict(state, recipe=dict(state["recipe"],
                                                                             model="cifar_resnet32")))


def _cut_weights(folder: Path) -> None:
    tensors, state = load_checkpoint(run_state_file(folder))
    save_checkpoint(run_state_file(folder), {k: v for k, v in tensors.items() if "fc" not in k}, state)


@pytest.mark.parametrize("damage, message", [
    (_other_log, "differs from the log of its checkpoint"),
    (_stray_file, "must be a folder of README.md, checkpoint.safetensors, train_log.jsonl"),
    (_other_model, "holds a run of cifar_resnet32.rz_cifar10, not of the folder's cifar_resnet20.rz_cifar10"),
    (_cut_weights, "does not fit cifar_resnet20: 2 missing keys: fc.weight, fc.bias"),
])
def test_verify_names_what_is_wrong_with_the_run(stopped, damage, message):
    ship(stopped, 10.)
    damage(stopped)
    with pytest.raises(WeightsError, match=message):
        verify(stopped)


# ---------------------------------------------------------------------------------------------------------------
# bad input: one line, nothing written


def test_bad_continuations_are_one_line_each(stopped, data, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in (stopped / LAST_CHECKPOINT).iterdir()}
    common = ["--data", str(data), "--out", str(tmp_path / "run2"), "--device", "cpu"]
    cases = [
        (["--resume", str(tmp_path)], f"--resume {tmp_path}: holds no run state (last-checkpoint/checkpoint."
                                      f"safetensors) nor a run folder's checkpoint.safetensors"),
        (["--resume", str(tmp_path / "nothing")], f"--resume {tmp_path / 'nothing'}: no such folder"),
        (["--resume", str(stopped), "--epochs", "8", "--cutout", "8"],
         f"--resume: {stopped} was written by another recipe: --epochs 4 (run) vs 8 (now); --cutout 0 (run) vs "
         f"8 (now)"),
        (["--resume", str(stopped), "--tag", "mine"], f"--resume: {stopped} is a run of tag rz_cifar10, not --tag "
                                                      f"mine"),
        (["--model", "cifar_resnet20", "--epochs", "4", "--hub-folder", str(stopped)],
         f"--hub-folder {stopped} already keeps a run (epoch 2 of 4): continue it with --resume {stopped}"),
        (["--epochs", "4"], "--model is required to start a run (--resume FOLDER continues one without it)"),
    ]
    for extra, message in cases:
        assert main(["train", *extra, *common]) == 1, extra
        err = capsys.readouterr().err
        assert err.startswith(f"resnet-zoo train: error: {message}") and err.count("\n") == 1, (extra, err)
    assert not (tmp_path / "run2").exists()
    assert {p.name: p.read_bytes() for p in (stopped / LAST_CHECKPOINT).iterdir()} == before


def test_a_run_state_this_version_cannot_read_is_one_line(stopped, data, tmp_path, capsys):
    """A state written by a newer resnet_zoo (a recipe option it does not know), or with broken metadata."""
    tensors, state = load_checkpoint(run_state_file(stopped))
    newer, broken = tmp_path / "newer", tmp_path / "broken"
    for folder in (newer, broken):
        shutil.copytree(stopped, folder)
    save_checkpoint(run_state_file(newer), tensors, dict(state, recipe=dict(state["recipe"], mixup=0.2)))
    save_file(tensors, run_state_file(broken), metadata={STATE_KEY: "{not json"})
    for folder, message in (
            (newer, f"the run's recipe has options this resnet_zoo {resnet_zoo.__version__} does not know (mixup): "
                    f"a newer version wrote it; upgrade resnet-zoo to continue it"),
            (broken, f"{run_state_file(broken)}: its {STATE_KEY!r} metadata is not JSON (")):
        assert main(["train", "--resume", str(folder), "--data", str(data), "--out", str(tmp_path / "run"),
                     "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"resnet-zoo train: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_model_folder_of_other_weights_is_refused(data, tmp_path, capsys):
    folder = tmp_path / "cifar_resnet32.rz_cifar10"
    export(timm.create_model("cifar_resnet32"), folder, tag="rz_cifar10")
    assert main(["train", "--model", "cifar_resnet20", "--data", str(data), "--hub-folder", str(folder), "--out",
                 str(tmp_path / "run"), "--device", "cpu"]) == 1
    assert capsys.readouterr().err == (f"resnet-zoo train: error: --hub-folder {folder} holds the weights "
                                       f"cifar_resnet32.rz_cifar10, not cifar_resnet20.rz_cifar10\n")


# ---------------------------------------------------------------------------------------------------------------
# --init: a new run from weights, grown from a shallower model


def test_growing_copies_each_block_with_a_proportional_step_and_ends_stages_with_identity_blocks():
    source = timm.create_model("cifar_resnet20").state_dict()  # 3 blocks per stage
    grown = grow_state_dict(source, 3, 9)
    target = timm.create_model("cifar_resnet56").state_dict()
    assert {k: v.shape for k, v in grown.items()} == {k: v.shape for k, v in target.items()}
    for stage in ("layer1", "layer2", "layer3"):
        for key in ("conv1.weight", "bn1.running_var", "downsample.0.weight", "bn2.weight"):
            if f"{stage}.0.{key}" in source:  # the first block: once, as it is
                assert torch.equal(grown[f"{stage}.0.{key}"], source[f"{stage}.0.{key}"])
        for block, copies in ((1, (1, 2, 3)), (2, (4, 5, 6))):
            for copy in copies:
                assert torch.equal(grown[f"{stage}.{copy}.conv2.weight"], source[f"{stage}.{block}.conv2.weight"])
                for last_bn in ("bn2.weight", "bn2.bias"):
                    assert torch.equal(grown[f"{stage}.{copy}.{last_bn}"], source[f"{stage}.{block}.{last_bn}"] / 3)
        for identity in (7, 8):
            assert not grown[f"{stage}.{identity}.bn2.weight"].any() and not grown[f"{stage}.{identity}.bn2.bias"].any()


def test_a_source_whose_blocks_add_nothing_grows_into_the_same_function():
    """A source whose blocks add nothing grows into a model that computes exactly what the source does."""
    source = timm.create_model("cifar_resnet20").eval()
    with torch.no_grad():
        for name, module in source.named_modules():
            if name.endswith(".bn2") and not name.endswith(".0.bn2"):
                module.weight.zero_()
                module.bias.zero_()
    grown = timm.create_model("cifar_resnet56").eval()
    grown.load_state_dict(grow_state_dict(source.state_dict(), 3, 9))
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(grown(x), source(x))


def test_a_run_starts_from_grown_weights_and_its_card_says_so(data, tmp_path, capsys):
    source = HUB / "cifar_resnet20.rz_cifar10"
    argv = ["train", "--model", "cifar_resnet56", "--init", str(source), "--data", str(data), "--epochs", "1",
            "--batch-size", "16", "--out", str(tmp_path / "run"), "--device", "cpu", "--precision", "fp32"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    commit = read_metadata(source / "model.safetensors")["git_commit"]
    weights = (f"cifar_resnet20.rz_cifar10 ({source}, commit {commit[:12]}), grown from 3 to 9 blocks per stage "
               f"(Chang et al. 2018)")
    assert out.startswith(f"starting from {weights}: top-1 ")
    top1 = float(out.split("top-1 ")[1].split("%")[0])
    card = read_card(tmp_path / "run" / "cifar_resnet56.rz_cifar10" / "README.md")
    assert card.details["Initialisation"] == f"{weights}; top-1 {top1:.2f}% before training"
    words = shlex.split(card.command)  # the command that repeats the run starts from the same registered weights
    assert words[:8] == ["resnet-zoo", "train", "--data", "DATA", "--out", "OUT", "--init", "cifar_resnet20.rz_cifar10"]
    assert words[words.index("--model") + 1] == "cifar_resnet56"


@pytest.mark.parametrize("init, model, message", [
    ("cifar_resnet32.rz_cifar10", "cifar_resnet56",
     "cifar_resnet32.rz_cifar10 cannot start cifar_resnet56: it has 5 blocks per stage, which do not divide the "
     "run's 9 (cifar_resnet56)"),
    ("cifar_resnet20.ak_cifar10", "cifar_resnet56",
     "cifar_resnet20.ak_cifar10 cannot start cifar_resnet56: it has shortcut A, the run B"),
    ("cifar_resnet56.rz_cifar10", "cifar_resnet20",
     "cifar_resnet56.rz_cifar10 cannot start cifar_resnet20: it has 9 blocks per stage, which do not divide the "
     "run's 3 (cifar_resnet20)"),
    ("nowhere", "cifar_resnet20", "give registered weights (e.g. cifar_resnet56.rz_cifar10), a model folder or "
                                  "hf-hub:ORG/NAME"),
])
def test_weights_that_cannot_start_the_run_are_one_line(init, model, message, data, tmp_path, capsys):
    source = str(HUB / init) if (HUB / init).is_dir() else init
    assert main(["train", "--model", model, "--init", source, "--data", str(data), "--out", str(tmp_path / "run"),
                 "--batch-size", "16", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err == f"resnet-zoo train: error: --init {source}: {message}\n"
    assert not (tmp_path / "run").exists()


def test_weights_of_another_class_count_or_beside_resume_are_refused(data, tmp_path, capsys):
    folder = export(timm.create_model("cifar_resnet20", num_classes=100), tmp_path / "c100", tag="rz_cifar100")
    assert main(["train", "--model", "cifar_resnet20", "--init", str(folder), "--data", str(data), "--out",
                 str(tmp_path / "run"), "--batch-size", "16", "--device", "cpu"]) == 1
    assert "it has 100 classes, the run 10" in capsys.readouterr().err
    assert main(["train", "--resume", "--init", str(folder), "--model", "cifar_resnet20", "--data", str(data),
                 "--device", "cpu"]) == 1
    assert capsys.readouterr().err == ("resnet-zoo train: error: --init starts a new run from weights; --resume "
                                       "continues one with its own\n")
