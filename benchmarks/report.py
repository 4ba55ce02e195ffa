"""Turn a pytest-benchmark JSON of ``test_models_speed.py``, ``test_train_speed.py`` and ``test_cpu_speed.py``
into the docs' Markdown.

Usage: ``python benchmarks/report.py benchmarks/results/<name>.json [-o <name>.md]``

One table per task and precision; each cell is images per second (batch / median time of a call) and, in
parentheses, the ratio to the family's reference in the same task and precision, run eagerly: the plain
CIFAR ResNet-56 (``tests/reference_resnet.py``) for CIFAR models, timm ``resnet50`` for ImageNet models.
The training recipe's throughput next to the plain eager loop (``test_train_speed.py``) gets a table of its
own, and so do the CPU's recipe and fast inference next to the peers' plain loops (``test_cpu_speed.py``). A
closing section checks the issues' targets.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

REFERENCES = {"cifar": "reference_resnet56", "imagenet": "timm_resnet50"}
"""The model each family's ratios are measured against."""
COLUMNS = (("eager", False), ("compile", False), ("eager", True), ("compile", True))
"""Table columns as ``(mode, fused)``; training tables leave out the fused ones."""
TASKS = ("train", "inference")
PRECISIONS = ("fp32", "bf16")
RECIPE_GROUP = "train-recipe-vs-reference"
"""The group of ``test_train_speed.py``'s benchmarks."""
RECIPE_SPEEDUP = 2.0
"""Images per second of the training recipe over the plain eager loop's, required."""
CPU_GROUP_PREFIX = "cpu-"
"""The groups of ``test_cpu_speed.py``'s benchmarks start with it."""
CPU_TARGETS = (("train", "recipe", "reference", 2.5), ("train", "recipe", "step", 0.85),
               ("train", "compiled", "recipe", 1.0),
               ("inference", "fast", "reference", 4.0), ("inference", "fast", "onnxruntime", 1.0))
"""CPU targets ``(task, loop, baseline loop, required ratio of their images per second)``, which
``test_cpu_speed.py`` asserts: the recipe against the peers' loop and against its own bare step, the compiled step
(``--compile``) against the eager recipe, the fast inference against plain eager fp32 and against ONNX Runtime on
its export."""


class Result(NamedTuple):
    """One benchmark: what ran (its ``extra_info``) and the median time of a call."""

    model: str
    family: str
    task: str
    precision: str
    mode: str
    fused: bool
    batch: int
    image_size: int
    median_s: float

    @property
    def key(self) -> Tuple[str, str, str, str, bool]:
        return self.model, self.task, self.precision, self.mode, self.fused

    @property
    def images_per_s(self) -> float:
        return self.batch / self.median_s


INFO_FIELDS = Result._fields[:-1]
"""The ``extra_info`` fields that ``test_models_speed.py`` records for every benchmark."""


def load_results(data: dict) -> List[Result]:
    """The timed benchmarks of a pytest-benchmark JSON document (``--benchmark-disable`` runs hold none).

    Raises:
        ValueError: If a benchmark lacks the ``extra_info`` that ``test_models_speed.py`` records.
    """
    results = []
    for bench in data.get("benchmarks", []):
        if bench.get("group") == RECIPE_GROUP or bench.get("group", "").startswith(CPU_GROUP_PREFIX):
            continue
        info = bench.get("extra_info", {})
        missing = [field for field in INFO_FIELDS if field not in info]
        if missing:
            raise ValueError(f"benchmark {bench.get('fullname', '?')} has no {', '.join(missing)} in extra_info; "
                             f"report.py reads the JSON of benchmarks/test_models_speed.py")
        results.append(Result(*(info[field] for field in INFO_FIELDS), bench["stats"]["median"]))
    return results


def recipe_speeds(data: dict) -> Dict[str, float]:
    """Images per second (``steps_per_call`` x batch / median time of a call) of each ``test_train_speed.py``
    loop in the document, by loop name (``reference``, ``recipe``)."""
    return {bench["extra_info"]["loop"]: bench["extra_info"]["steps_per_call"] * bench["extra_info"]["batch"]
            / bench["stats"]["median"] for bench in data.get("benchmarks", []) if bench.get("group") == RECIPE_GROUP}


def cpu_rates(data: dict) -> Dict[Tuple[str, str, str], float]:
    """Images per second of each ``test_cpu_speed.py`` loop in the document, by ``(model, task, loop)``."""
    return {(b["extra_info"]["model"], b["extra_info"]["task"], b["extra_info"]["loop"]):
            b["extra_info"]["images"] / b["stats"]["median"]
            for b in data.get("benchmarks", []) if b.get("group", "").startswith(CPU_GROUP_PREFIX)}


def _cpu_table(rates: Dict[Tuple[str, str, str], float]) -> List[str]:
    lines = ["| model | task | loop | against | its images/s | resnet-zoo images/s | ratio | required | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for model in sorted({m for m, _, _ in rates}):
        for task, loop, baseline, required in CPU_TARGETS:
            base, ours = rates.get((model, task, baseline)), rates.get((model, task, loop))
            if base is None or ours is None:
                continue
            ratio = ours / base
            lines.append(f"| {model} | {task} | {loop} | {baseline} | {base:,.0f} | {ours:,.0f} | {ratio:.2f}x | "
                         f">= {required:.2f}x | {'yes' if ratio >= required else 'no'} |")
    return lines


def _recipe_table(speeds: Dict[str, float]) -> List[str]:
    lines = ["| loop | images/s | ratio to reference |", "|---|---|---|"]
    for loop, rate in speeds.items():
        ratio = f"{rate / speeds['reference']:.2f}x" if "reference" in speeds else "–"
        lines.append(f"| {loop} | {rate:,.0f} | {ratio} |")
    return lines


def _cell(result: Optional[Result], reference: Optional[Result]) -> str:
    if result is None:
        return "–"
    rate = result.images_per_s
    text = f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"
    return f"{text} ({result.images_per_s / reference.images_per_s:.2f}x)" if reference else text


def _table(results: Dict[tuple, Result], models: Sequence[Tuple[str, str]], task: str, precision: str) -> List[str]:
    shown = COLUMNS if task == "inference" else [c for c in COLUMNS if not c[1]]
    titles = [mode + (" + fuse_bn" if fused else "") for mode, fused in shown]
    lines = [f"| model | {' | '.join(titles)} |", "|---" * (len(titles) + 1) + "|"]
    for model, family in models:
        if not any((model, task, precision, mode, fused) in results for mode, fused in shown):
            continue
        reference = results.get((REFERENCES[family], task, precision, "eager", False))
        cells = [_cell(results.get((model, task, precision, mode, fused)), reference) for mode, fused in shown]
        lines.append(f"| {model} | {' | '.join(cells)} |")
    return lines


def _ratio(results: Dict[tuple, Result], key: tuple, reference_key: tuple) -> Optional[float]:
    if key not in results or reference_key not in results:
        return None
    return results[key].images_per_s / results[reference_key].images_per_s


def _targets(results: Dict[tuple, Result], speeds: Dict[str, float]) -> List[str]:
    checks = []  # (target, required ratio, measured ratio or None)
    for task in TASKS:
        for precision in PRECISIONS:
            for mode in ("eager", "compile"):
                checks.append((f"zoo_resnet50 {task}, {precision}, {mode} vs timm resnet50", 1.0,
                               _ratio(results, ("zoo_resnet50", task, precision, mode, False),
                                      ("timm_resnet50", task, precision, mode, False))))
    for precision in PRECISIONS:
        checks.append((f"cifar_resnet56 inference, {precision}, fuse_bn + compile vs eager reference", 1.5,
                       _ratio(results, ("cifar_resnet56", "inference", precision, "compile", True),
                              ("reference_resnet56", "inference", precision, "eager", False))))
    checks.append(("cifar_resnet56 training, recipe vs plain eager loop (bf16 + channels_last)", RECIPE_SPEEDUP,
                   speeds["recipe"] / speeds["reference"] if {"recipe", "reference"} <= set(speeds) else None))
    lines = ["| target | ratio | required | met |", "|---|---|---|---|"]
    for name, required, ratio in checks:
        if ratio is None:
            lines.append(f"| {name} | not measured | >= {required:.1f}x | – |")
        else:
            lines.append(f"| {name} | {ratio:.2f}x | >= {required:.1f}x | {'yes' if ratio >= required else 'no'} |")
    return lines


def _models_in_order(results: Iterable[Result]) -> List[Tuple[str, str]]:
    """``(model, family)`` in run order, references first within each family."""
    seen = {}
    for result in results:
        seen.setdefault(result.model, result.family)
    return sorted(seen.items(), key=lambda item: (item[1] != "cifar", item[0] not in REFERENCES.values()))


def markdown_report(data: dict) -> str:
    """The Markdown report of a pytest-benchmark JSON document: header, one table per task and precision,
    the training recipe's table and the targets.

    Raises:
        ValueError: If the document holds no timed benchmark of ``test_models_speed.py`` or
            ``test_train_speed.py``.
    """
    loaded = load_results(data)
    speeds = recipe_speeds(data)
    cpu = cpu_rates(data)
    if not loaded and not speeds and not cpu:
        raise ValueError("the JSON holds no timed benchmark (was it written with --benchmark-disable?)")
    results = {r.key: r for r in loaded}
    machine = data.get("machine_info", {})
    lines = [f"# Throughput on {machine.get('bench_device_name', 'unknown device')}", "",
             f"torch {machine.get('torch', '?')}, torchvision {machine.get('torchvision', '?')}, "
             f"timm {machine.get('timm', '?')}, resnet_zoo {machine.get('resnet_zoo', '?')}; "
             f"run {data.get('datetime', '?')}."]
    if loaded:
        models = _models_in_order(loaded)
        sizes = sorted({(r.family, r.task, r.batch, r.image_size) for r in loaded})
        lines += ["", "Images per second (batch / median time of a call; higher is better) and, in parentheses, the "
                  "ratio to the eager reference of the same task and precision: the plain CIFAR ResNet-56 for CIFAR "
                  "models, timm `resnet50` for ImageNet models. `bf16` is bf16 autocast with channels_last.", "",
                  "Batch sizes: " + "; ".join(f"{family} {task} {batch} at {size}x{size}"
                                              for family, task, batch, size in sizes) + "."]
        for task in TASKS:
            for precision in PRECISIONS:
                if any(r.task == task and r.precision == precision for r in loaded):
                    lines += ["", f"## {'Training step' if task == 'train' else 'Inference'}, {precision}", ""]
                    lines += _table(results, models, task, precision)
    if speeds:
        lines += ["", "## Training recipe vs plain loop", "",
                  "`cifar_resnet56` trained by the recipe's step (`resnet_zoo.engine`, default settings for the "
                  "device) and by the plain eager loop (bf16 autocast + channels_last, Nesterov SGD), both on "
                  "device-resident batches; images per second over a median call of several steps.", ""]
        lines += _recipe_table(speeds)
    if cpu:
        lines += ["", "## CPU: recipe and fast inference vs the peers' plain loops", "",
                  "Training: the plain CIFAR ResNet (fp32, eager, NCHW, batch 128, torchvision DataLoader with "
                  "crop + flip) against a whole epoch of the recipe at its defaults for this CPU, and that epoch "
                  "against the recipe's bare step over the same batches made beforehand (`step`) and against the "
                  "same epoch with the step compiled (`compiled`, `resnet-zoo train --compile`). Inference: the "
                  "model as loaded (eager fp32, batch 256), and its `resnet-zoo export-onnx` graph in ONNX Runtime "
                  "(fp32, same batches and threads), against `inference_model(model, \"auto\")`. Images per "
                  "second of the median call; the ratios are the CPU targets.", ""]
        lines += _cpu_table(cpu)
    if loaded or speeds:
        lines += ["", "## Targets", ""] + _targets(results, speeds)
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: write the report of a results JSON to stdout or ``-o``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path,
                        help="pytest-benchmark JSON of benchmarks/test_models_speed.py and/or test_train_speed.py")
    parser.add_argument("-o", "--output", type=Path, help="Markdown file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        report = markdown_report(json.loads(args.json.read_text()))
    except (OSError, ValueError) as err:
        print(f"report.py: {args.json}: {err}", file=sys.stderr)
        return 1
    if args.output:
        tmp = args.output.with_suffix(args.output.suffix + ".tmp")
        tmp.write_text(report)
        tmp.replace(args.output)
    else:
        sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
