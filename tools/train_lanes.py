"""Train several models at once on one GPU, in parallel lanes, within a deadline; pack what they wrote.

Small CIFAR ResNets leave most of an H200 idle: two training processes sharing it give about 1.55x the
throughput of one. Each ``--lane`` is a list of ``MODEL:EPOCHS`` trained one after the other with
``resnet-zoo train``; the lanes run side by side. At ``--deadline`` seconds, or on SIGTERM or SIGINT (a command
timeout, Ctrl-C), every run still going is stopped; its last checkpoint stays. Then everything the runs wrote
(exports, logs, the console output of each run, and the checkpoints of unfinished runs) is packed into
``PACK/runs.tar.gz``, split into parts of at most ``--part-mib`` MiB, with ``PACK/session.json`` listing what
happened: the layout the device machine's ``$OUT`` takes back (a few files of at most 16 MiB).

Started again on the same ``--work``, the lanes resume every run that has a checkpoint and skip every run that
has its export, so a training longer than one sitting spans several.

    PYTHONPATH=src python3 tools/train_lanes.py --data /tmp/data --work /tmp/runs --pack "$OUT" --deadline 540 \\
        --lane cifar_resnet110:150 --lane cifar_resnet20:200,cifar_resnet32:200,cifar_resnet44:180,cifar_resnet56:160 \\
        -- --cutout 16

Options after ``--`` go to every ``resnet-zoo train``. Unpack with ``cat runs.tar.gz.* | tar xz``.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

TAG = "rz_cifar10"
FINISHED_EARLIER = "finished earlier"
"""Status of a run whose export is in ``--work`` already (from a former session): it is not trained again."""


def parse_lane(text: str) -> List[Tuple[str, int]]:
    """``"m1:E1,m2:E2"`` -> ``[(m1, E1), (m2, E2)]``."""
    runs = []
    for item in text.split(","):
        model, _, epochs = item.partition(":")
        if not model or not epochs.isdigit():
            raise argparse.ArgumentTypeError(f"a lane is MODEL:EPOCHS[,MODEL:EPOCHS...], got {item!r}")
        runs.append((model, int(epochs)))
    return runs


class Lane(threading.Thread):
    """Runs its models one after the other until done or stopped; records each run's outcome."""

    def __init__(self, runs: List[Tuple[str, int]], args: argparse.Namespace, train_options: List[str]):
        super().__init__(daemon=True)
        self.runs, self.args, self.train_options = runs, args, train_options
        self.process: Optional[subprocess.Popen] = None
        self.stop_reason: Optional[str] = None
        self.lock = threading.Lock()  # no run starts after stop()
        self.results: Dict[str, Dict] = {}

    def run(self) -> None:
        for model, epochs in self.runs:
            out = self.args.work / f"{model}.{TAG}"
            if (out / f"{model}.{TAG}" / "model.safetensors").is_file():
                self.results[model] = dict(epochs=epochs, status=FINISHED_EARLIER)
                print(f"{model}: {FINISHED_EARLIER}", flush=True)
                continue
            command = [sys.executable, "-m", "resnet_zoo.commands.cli", "train", "--model", model,
                       "--epochs", str(epochs), "--data", str(self.args.data), "--out", str(out), *self.train_options]
            if (out / "checkpoint.safetensors").is_file():
                command.append("--resume")
            start = time.perf_counter()
            with self.lock:
                if self.stop_reason is not None:
                    self.results[model] = dict(epochs=epochs, status="not started")
                    continue
                out.mkdir(parents=True, exist_ok=True)
                console = open(out / "console.log", "a")
                self.process = subprocess.Popen(command, stdout=console, stderr=subprocess.STDOUT)
            with console:
                code = self.process.wait()
            status = "finished" if code == 0 else (
                f"stopped ({self.stop_reason})" if self.stop_reason else f"failed ({code})")
            self.results[model] = dict(epochs=epochs, status=status, wall_s=round(time.perf_counter() - start, 1),
                                       command=" ".join(command[1:]))
            print(f"{model}: {status} after {self.results[model]['wall_s']} s", flush=True)

    def stop(self, reason: str) -> None:
        with self.lock:
            self.stop_reason = reason
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()


def machine() -> Dict[str, str]:
    """The device and the versions that matter for reproducing the runs."""
    from importlib.metadata import version

    import torch
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return dict(device=device, python=platform.python_version(),
                **{name: version(name) for name in ("torch", "torchvision", "timm")})


def pack(work: Path, destination: Path, part_bytes: int, finished: List[str]) -> List[str]:
    """``work`` as ``runs.tar.gz`` parts under ``destination``, without the checkpoints of finished runs."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / "runs.tar.gz"

    def keep(info: tarfile.TarInfo) -> Optional[tarfile.TarInfo]:
        parts = Path(info.name).parts
        done = len(parts) > 1 and parts[1].split(".")[0] in finished
        return None if done and parts[-1] == "checkpoint.safetensors" else info

    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work, arcname=work.name, filter=keep)
    data = archive.read_bytes()
    archive.unlink()
    names = []
    for i in range(0, len(data), part_bytes):
        name = f"runs.tar.gz.{i // part_bytes:02d}"
        (destination / name).write_bytes(data[i:i + part_bytes])
        names.append(name)
    return names


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    train_options = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding cifar-10-batches-py/")
    parser.add_argument("--work", type=Path, required=True, help="where the runs write")
    parser.add_argument("--pack", type=Path, required=True, help="where the archive parts and session.json go")
    parser.add_argument("--lane", type=parse_lane, action="append", required=True, metavar="MODEL:EPOCHS,...")
    parser.add_argument("--deadline", type=float, required=True, metavar="SECONDS",
                        help="stop every run still going after this long")
    parser.add_argument("--part-mib", type=int, default=15, help="largest archive part (MiB)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    signalled: List[str] = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, _: signalled.append(signal.Signals(received).name))
    lanes = [Lane(runs, args, train_options) for runs in args.lane]
    for lane in lanes:
        lane.start()
    while any(lane.is_alive() for lane in lanes) and not signalled and time.perf_counter() - start < args.deadline:
        time.sleep(0.2)
    for lane in lanes:
        lane.stop(signalled[0] if signalled else "deadline")
    for lane in lanes:
        lane.join()
    results = {model: result for lane in lanes for model, result in lane.results.items()}
    finished = [model for model, result in results.items() if result["status"] in ("finished", FINISHED_EARLIER)]
    parts = pack(args.work, args.pack, args.part_mib * 2 ** 20, finished)
    session = dict(**machine(), lanes=[
        [f"{m}:{e}" for m, e in runs] for runs in args.lane], train_options=train_options, deadline_s=args.deadline,
        wall_s=round(time.perf_counter() - start, 1), runs=results, archive=parts,
        env={k: v for k, v in os.environ.items() if k.startswith(("CUDA", "OMP", "TORCH"))})
    (args.pack / "session.json").write_text(json.dumps(session, indent=2) + "\n")
    print(json.dumps(session, indent=2))
    return 0 if len(finished) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
