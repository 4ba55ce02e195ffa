"""The recipe's training step with glibc's adaptive malloc thresholds against the thresholds pinned
(`resnet_zoo.allocator.keep_freed_memory`, as every ``resnet-zoo`` command runs), each in new processes, alternating.

    python benchmarks/allocator_ab.py [--model cifar_resnet56] [--precision bf16] [--steps 20] [--rounds 4] [-o FILE]

Prints (or writes) a Markdown report: img/s and minor page faults per step of every process, and the ratio of the
medians. Run it on a quiet machine: each process uses every core.
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_setup import cpu_name

from resnet_zoo.allocator import keep_freed_memory
from resnet_zoo.engine import build_training
from resnet_zoo.recipe import Recipe

BATCH = 256
MODES = ("adaptive", "pinned")


def measure(model: str, precision: str, steps: int, pinned: bool) -> dict:
    """img/s and minor page faults per step of the recipe's eager step on random CIFAR-sized batches."""
    if pinned:
        assert keep_freed_memory(), "glibc's mallopt is not available here"
    training = build_training(Recipe(model=model, precision=precision, batch_size=BATCH), torch.device("cpu"), False)
    images = torch.randn(BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (BATCH,))
    for step in range(1, 4):  # oneDNN's kernels chosen, memory first touched
        training.step(images, labels, training.recipe.lr, step)
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for step in range(4, 4 + steps):
        training.step(images, labels, training.recipe.lr, step)
    seconds = time.perf_counter() - start
    return dict(img_per_s=BATCH * steps / seconds,
                faults_per_step=(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps)


def report(args: argparse.Namespace, results: dict) -> str:
    """The Markdown report of ``results``: mode -> one measurement per process."""
    medians = {mode: statistics.median(r["img_per_s"] for r in results[mode]) for mode in MODES}

    def listing(mode: str, key: str, spec: str) -> str:
        return ", ".join(format(r[key], spec) for r in results[mode])

    rows = [f"| {mode} | {listing(mode, 'img_per_s', '.0f')} | {medians[mode]:.0f} | "
            f"{listing(mode, 'faults_per_step', ',.0f')} |" for mode in MODES]
    return "\n".join([
        f"# glibc's malloc thresholds: {args.model}, {args.precision} step, batch {BATCH}, {cpu_name()}", "",
        "| thresholds | img/s of each process | median | minor page faults per step |",
        "|---|---|---|---|", *rows, "",
        f"Pinned / adaptive: {medians['pinned'] / medians['adaptive']:.2f}x. Measured with `python "
        f"benchmarks/allocator_ab.py --model {args.model} --precision {args.precision} --steps {args.steps} "
        f"--rounds {args.rounds}`.", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cifar_resnet56")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("-o", "--output", type=Path, help="write the report here instead of printing it")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.precision, args.steps, args.child == "pinned")))
        return
    results = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            child = subprocess.run([sys.executable, __file__, "--model", args.model, "--precision", args.precision,
                                    "--steps", str(args.steps), "--child", mode],
                                   capture_output=True, text=True, check=True)
            results[mode].append(json.loads(child.stdout.splitlines()[-1]))
    text = report(args, results)
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
