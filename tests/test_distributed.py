"""``resnet-zoo train`` under torchrun on the CPU (gloo): two processes train one run, rank 0 alone writes it, a
killed two-process run resumes to the weights of an uninterrupted one, and a run resumes with another number
of processes."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import List

import pytest
import torch
from safetensors.torch import load_file

from resnet_zoo.checkpoint import load_checkpoint, read_state
from resnet_zoo.commands.cli import main
from resnet_zoo.constants import CHECKPOINT_FILE
from resnet_zoo.distributed import Ranks, launched_ranks, rank_slice, shard
from resnet_zoo.engine import Training
from resnet_zoo.errors import ZooError
from resnet_zoo.precision import resolve_precision
from resnet_zoo.recipe import Recipe, default_lr
from resnet_zoo.run import DATA, OUT, RunOptions, command_line, train
from resnet_zoo.train_log import TRAIN_LOG_NAME

CPU = torch.device("cpu")
RECIPE = Recipe(model="cifar_resnet20", epochs=3, subset=512, batch_size=128, lr=default_lr(128), warmup_epochs=1,
                test_subset=200, seed=1, precision=resolve_precision("auto", CPU))
"""Three epochs on 512 images, as ``resnet-zoo train`` makes the recipe of its options on this CPU."""
EXPORT = "cifar_resnet20.rz_cifar10"


def train_options(recipe: Recipe, out: Path, data: Path) -> List[str]:
    """The options of ``resnet-zoo train`` that run ``recipe`` on the CPU."""
    folders = {DATA: str(data), OUT: str(out)}
    return [*(folders.get(w, w) for w in shlex.split(command_line(recipe))[2:]), "--device", "cpu"]


def torchrun(out: Path, data: Path, *extra: str, recipe: Recipe = RECIPE) -> subprocess.Popen:
    """``torchrun --nproc-per-node 2 -m resnet_zoo train`` of ``recipe``."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "resnet_zoo", "train", *train_options(recipe, out, data), *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def kill_all(process: subprocess.Popen) -> None:
    """SIGKILL torchrun's workers (each in a session of its own) and torchrun, as a machine failure would."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
        if parent == process.pid:
            workers.append(int(stat.parent.name))
    assert len(workers) == 2
    for pid in [*workers, process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=60)


def finish(process: subprocess.Popen) -> str:
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output
    return output


def read_log(out: Path) -> list:
    return [json.loads(line) for line in (out / TRAIN_LOG_NAME).read_text().splitlines()]


def without_timing(log: list) -> list:
    return [{k: v for k, v in r.items() if k not in ("img_per_s", "wall_s")} for r in log]


@pytest.fixture(scope="module")
def two_processes(cifar10_root, tmp_path_factory):
    """An uninterrupted two-process run; returns (its folder, its output)."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    return out, finish(torchrun(out, cifar10_root))


def test_two_processes_train_one_run_whose_loss_falls(two_processes):
    out, output = two_processes
    log = read_log(out)
    assert [r["epoch"] for r in log] == [1, 2, 3]  # one writer: no line twice
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert output.count(f"exported {out / EXPORT}") == 1  # rank 0 prints
    assert sorted(p.name for p in out.iterdir()) == sorted([EXPORT, CHECKPOINT_FILE, TRAIN_LOG_NAME])
    assert sorted(p.name for p in (out / EXPORT).iterdir()) == [
        "README.md", "config.json", "model.safetensors", "train_log.jsonl", "training_curve.png"]
    assert "| Training hardware | 2 processes, each CPU: " in (out / EXPORT / "README.md").read_text()


def test_validate_of_the_two_process_export_agrees_with_its_log(two_processes, cifar10_root, capsys):
    out, _ = two_processes
    assert main(["validate", "--model", "cifar_resnet20", "--checkpoint", str(out / EXPORT), "--data",
                 str(cifar10_root), "--subset", "200", "--device", "cpu", "--json"]) == 0
    report, final = json.loads(capsys.readouterr().out), read_log(out)[-1]
    assert (report["top1"], report["top5"]) == (final["test_top1"], final["test_top5"])  # sharded eval, summed


@pytest.fixture(scope="module")
def killed(cifar10_root, tmp_path_factory):
    """A two-process run killed (every process, with SIGKILL) once its first epoch is logged."""
    out = tmp_path_factory.mktemp("ddp_killed") / "run"
    process = torchrun(out, cifar10_root)
    deadline = time.monotonic() + 300
    while not ((out / TRAIN_LOG_NAME).is_file() and (out / TRAIN_LOG_NAME).read_text().count("\n") >= 1):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the first epoch took more than 5 minutes"
        time.sleep(0.02)
    kill_all(process)
    assert load_checkpoint(out / CHECKPOINT_FILE)[1]["epoch"] == 1
    return out


def test_killed_two_process_run_resumes_to_the_uninterrupted_weights(killed, two_processes, cifar10_root, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    finish(torchrun(out, cifar10_root, "--resume"))
    expected, resumed = load_file(two_processes[0] / CHECKPOINT_FILE), load_file(out / CHECKPOINT_FILE)
    assert resumed.keys() == expected.keys()
    assert [k for k in expected if not torch.equal(resumed[k], expected[k])] == []
    assert without_timing(read_log(out)) == without_timing(read_log(two_processes[0]))


def test_two_process_run_resumes_in_one_process(killed, cifar10_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    first, saved = read_log(out), load_checkpoint(out / CHECKPOINT_FILE)[0]
    restored, load = [], Training.load_state_tensors

    def load_and_record(training: Training, tensors: dict) -> None:
        load(training, tensors)
        restored.append({k: v.clone() for k, v in training.state_tensors().items()})  # before it trains on

    monkeypatch.setattr(Training, "load_state_tensors", load_and_record)
    assert train(RECIPE, RunOptions(data=cifar10_root, out=out, resume=True, device=CPU)).folder == out / EXPORT
    assert len(restored) == 1 and restored[0].keys() == saved.keys()  # rank 0's whole state, into one process
    assert [k for k in saved if not torch.equal(restored[0][k], saved[k])] == []
    log = read_log(out)
    assert [r["epoch"] for r in log] == [1, 2, 3] and log[0] == first[0]
    assert log[-1]["train_loss"] < log[0]["train_loss"]


def test_sync_bn_needs_cuda(cifar10_root, tmp_path, capsys):
    assert main(["train", *train_options(RECIPE, tmp_path / "run", cifar10_root), "--sync-bn"]) == 1
    assert "--sync-bn needs CUDA" in capsys.readouterr().err


def test_ranks_read_from_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_ranks() == Ranks(3, 4, 1) and not launched_ranks().is_main
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name)
    assert launched_ranks() == Ranks() and launched_ranks().is_main


def test_each_process_takes_an_even_share_of_the_global_batch():
    assert [Ranks(0, n).local_batch_size(12) for n in (1, 2, 3, 4)] == [12, 6, 4, 3]
    with pytest.raises(ZooError, match="--batch-size 12 .the global batch. must be a multiple of the 5 processes"):
        Ranks(0, 5).local_batch_size(12)


def test_batches_and_shards_partition_the_images():
    parts = [rank_slice(step, 12, Ranks(rank, 3)) for step in range(2) for rank in range(3)]
    assert [(s.start, s.stop) for s in parts] == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24)]
    assert [list(range(10))[shard(10, Ranks(rank, 4))] for rank in range(4)] == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]


@pytest.mark.slow
def test_compiled_step_trains_under_two_processes(cifar10_root, tmp_path):
    """``--compile`` under DistributedDataParallel (inductor on the CPU here; on CUDA without CUDA graphs)."""
    out = tmp_path / "run"
    recipe = replace(RECIPE, epochs=2, subset=256, batch_size=64, lr=default_lr(64))
    process = torchrun(out, cifar10_root, "--compile", recipe=recipe)
    finish(process)
    log = read_log(out)
    assert [r["epoch"] for r in log] == [1, 2] and all(r["train_loss"] < 2.5 for r in log)
    assert read_state(out / CHECKPOINT_FILE)["sittings"][-1]["compiled"] is True  # the card says so
