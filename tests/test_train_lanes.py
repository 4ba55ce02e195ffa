"""``tools/train_lanes.py``, the GPU session's trainer: lanes of runs side by side, stopped at a deadline, packed
into archive parts that unpack to every run's export, log and (when unfinished) checkpoint."""
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "train_lanes.py"
TINY = ["--subset", "64", "--batch-size", "32", "--warmup-epochs", "0", "--test-subset", "50", "--device", "cpu"]


def test_lanes_finish_or_stop_at_the_deadline_and_pack_everything(cifar10_root, tmp_path):
    work, pack = tmp_path / "runs", tmp_path / "out"
    command = [sys.executable, str(TOOL), "--data", str(cifar10_root), "--work", str(work), "--pack", str(pack),
               "--deadline", "20", "--part-mib", "1", "--lane", "cifar_resnet20:1",
               "--lane", "cifar_resnet32:1,cifar_resnet44:1000", "--", *TINY]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                            timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr  # not every run finished
    session = json.loads((pack / "session.json").read_text())
    assert {m: r["status"] for m, r in session["runs"].items()} == {
        "cifar_resnet20": "finished", "cifar_resnet32": "finished", "cifar_resnet44": "stopped at the deadline"}
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


@pytest.mark.parametrize("lane", ["cifar_resnet20", "cifar_resnet20:x", ":5"])
def test_a_lane_needs_model_and_epochs(lane, tmp_path):
    result = subprocess.run([sys.executable, str(TOOL), "--data", "d", "--work", "w", "--pack", str(tmp_path),
                             "--deadline", "1", "--lane", lane], capture_output=True, text=True)
    assert result.returncode == 2 and "a lane is MODEL:EPOCHS" in result.stderr
