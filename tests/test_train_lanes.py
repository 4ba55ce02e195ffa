"""``tools/train_lanes.py``, the GPU session's trainer: lanes of runs side by side, stopped at a deadline, packed
into archive parts that unpack to every run's export, log and (when unfinished) checkpoint."""
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "train_lanes.py"
TINY = ["--subset", "64", "--batch-size", "32", "--warmup-epochs", "0", "--test-subset", "50", "--device", "cpu"]


def _run_tool(cifar10_root, tmp_path, *options, pack="out"):
    command = [sys.executable, str(TOOL), "--data", str(cifar10_root), "--work", str(tmp_path / "runs"),
               "--pack", str(tmp_path / pack), *options, "--", *TINY]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for_line(process, start):
    lines = []
    while not lines or not lines[-1].startswith(start):
        lines.append(process.stdout.readline())
        assert lines[-1], "".join(lines)  # the tool ended before printing it
    return lines[-1]


def _wait_for_file(path, process, seconds=300):
    end = time.monotonic() + seconds
    while not path.is_file():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < end, f"no {path} after {seconds} s"
        time.sleep(0.2)


def test_sigterm_stops_and_packs_then_the_same_lanes_skip_finished_runs_and_resume_others(cifar10_root, tmp_path):
    process = _run_tool(cifar10_root, tmp_path, "--deadline", "600", "--part-mib", "1",
                        "--lane", "cifar_resnet20:1,cifar_resnet32:1", "--lane", "cifar_resnet44:1000")
    work, pack = tmp_path / "runs", tmp_path / "out"
    assert _wait_for_line(process, "cifar_resnet32:").startswith("cifar_resnet32: finished after")
    _wait_for_file(work / "cifar_resnet44.rz_cifar10" / "checkpoint.safetensors", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 1, output  # not every run finished
    session = json.loads((pack / "session.json").read_text())
    assert {m: r["status"] for m, r in session["runs"].items()} == {
        "cifar_resnet20": "finished", "cifar_resnet32": "finished", "cifar_resnet44": "stopped (SIGTERM)"}
    assert session["train_options"] == TINY and session["device"] == "CPU"
    assert sorted(p.name for p in pack.iterdir()) == [*session["archive"], "session.json"]
    assert len(session["archive"]) > 1 and all((pack / p).stat().st_size <= 2 ** 20 for p in session["archive"])

    data = b"".join((pack / p).read_bytes() for p in session["archive"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
    for model in ("cifar_resnet20", "cifar_resnet32"):
        run = f"runs/{model}.rz_cifar10"
        assert {f"{run}/{model}.rz_cifar10/model.safetensors", f"{run}/train_log.jsonl", f"{run}/console.log"} <= names
        assert f"{run}/checkpoint.safetensors" not in names  # finished: the export is what counts
    assert "runs/cifar_resnet44.rz_cifar10/checkpoint.safetensors" in names  # to resume

    # the same lanes again: the finished runs are skipped, the stopped one resumes
    again = _run_tool(cifar10_root, tmp_path, "--deadline", "2", "--lane", "cifar_resnet20:1,cifar_resnet32:1",
                      "--lane", "cifar_resnet44:1000", pack="out2")
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 1, output
    runs = json.loads((tmp_path / "out2" / "session.json").read_text())["runs"]
    assert {m: r["status"] for m, r in runs.items()} == {
        "cifar_resnet20": "finished earlier", "cifar_resnet32": "finished earlier",
        "cifar_resnet44": "stopped (deadline)"}
    assert runs["cifar_resnet44"]["command"].endswith(" --resume")


def test_the_deadline_stops_the_run_going_and_starts_no_other(cifar10_root, tmp_path):
    process = _run_tool(cifar10_root, tmp_path, "--deadline", "2", "--lane", "cifar_resnet20:1000,cifar_resnet32:1")
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 1, output
    session = json.loads((tmp_path / "out" / "session.json").read_text())
    assert {m: r["status"] for m, r in session["runs"].items()} == {
        "cifar_resnet20": "stopped (deadline)", "cifar_resnet32": "not started"}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["cifar_resnet20.rz_cifar10"]


@pytest.mark.parametrize("lane", ["cifar_resnet20", "cifar_resnet20:x", ":5"])
def test_a_lane_needs_model_and_epochs(lane, tmp_path):
    result = subprocess.run([sys.executable, str(TOOL), "--data", "d", "--work", "w", "--pack", str(tmp_path),
                             "--deadline", "1", "--lane", lane], capture_output=True, text=True)
    assert result.returncode == 2 and "a lane is MODEL:EPOCHS" in result.stderr
