"""A training run: `train` takes a `Recipe` and `RunOptions` through every epoch to an exported model.

The run folder ``OUT`` is made when the first epoch ends. Each epoch appends one JSON line to
``OUT/train_log.jsonl`` (``epoch``, ``train_loss``, ``lr``, ``train_top1``,
``test_top1``, ``test_top5``, ``test_loss``, ``img_per_s``, ``wall_s``) and replaces ``OUT/checkpoint.safetensors``
atomically (model, EMA, optimizer and RNG states as tensors, see `resnet_zoo.checkpoint`; recipe, history, tag,
classes, command, hardware and code as JSON metadata; ``code`` lists the resnet_zoo commit of each stretch of epochs,
a resumed run adding one when its code differs). A resumed run continues a killed one from that checkpoint to the
same final weights as an uninterrupted run. A NaN or infinite loss stops the run and leaves the last good
checkpoint. At the end `export_run` exports the EMA model to ``OUT/MODEL.TAG``; while a run is unfinished it
exports interim weights.

Started by ``torchrun``, every process trains its part of each batch under DistributedDataParallel (NCCL on
GPUs, gloo on the CPU; see `resnet_zoo.distributed`); the recipe's batch size is the global batch, so the
learning rate and the schedule do not depend on the number of processes, and a run resumes with any number.
Only rank 0 prints, logs, checkpoints and exports.
"""
import math
import platform
import shlex
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from tqdm import tqdm

from .checkpoint import CHECKPOINT_FILE, eval_weights, load_checkpoint, save_checkpoint
from .datasets import create_dataset, default_tag
from .distributed import Ranks, barrier, broadcast_buffers, destroy_process_group, init_process_group
from .engine import Recipe, build_training, train_one_epoch
from .errors import ZooError
from .factory import create_model_for, resolve_device
from .files import check_writable
from .hub import check_tag, export, git_commit
from .imagefolder import DEFAULT_WORKERS, check_workers
from .precision import fast_bf16
from .train_log import TRAIN_LOG_NAME, append_train_log, write_train_log


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run executes: what ``resnet-zoo train`` takes besides the `Recipe`.

    Attributes:
        data: Folder holding the dataset (see `resnet_zoo.datasets.create_dataset`).
        out: Run folder (``None``: ``runs/MODEL.TAG``).
        tag: Pretrained tag of the export (``None``: `resnet_zoo.datasets.default_tag` of the dataset).
        resume: Continue the run in ``out`` from its checkpoint.
        download: Fetch a CIFAR dataset with torchvision if it is missing.
        device: Where to train (``None``: CUDA if available, else the CPU); under ``torchrun`` a CUDA device
            means ``cuda:LOCAL_RANK``.
        compile: Compile the step (``None``: on CUDA only).
        workers: Image decoding processes per process, for an image folder.

    Raises:
        ZooError: If ``tag`` is not a pretrained tag or ``workers`` is negative.
    """

    data: Path
    out: Optional[Path] = None
    tag: Optional[str] = None
    resume: bool = False
    download: bool = False
    device: Optional[torch.device] = None
    compile: Optional[bool] = None
    workers: int = DEFAULT_WORKERS

    def __post_init__(self):
        if self.tag is not None:
            check_tag(self.tag)
        check_workers(self.workers)

    def folder(self, recipe: Recipe) -> Path:
        """The run folder: ``out``, or ``runs/MODEL.TAG``."""
        return self.out or Path("runs") / f"{recipe.model}.{self.tag or default_tag(recipe.dataset)}"


def train(recipe: Recipe, options: RunOptions) -> Path:
    """Train ``recipe`` (or resume it), checkpoint and log every epoch, then export the evaluated model.

    Under ``torchrun`` every process calls it with the same arguments; they train together and rank 0 writes.

    Returns:
        The exported Hub model folder, ``OUT/MODEL.TAG``.

    Raises:
        ZooError: For bad options or data, a run folder that holds another run, or a diverged loss
            (`TrainingDiverged`).
    """
    start = time.perf_counter()
    ranks, device = init_process_group(resolve_device() if options.device is None else options.device)
    try:
        return _train(recipe, options, ranks, device, start)
    finally:
        destroy_process_group()


def command_line(recipe: Recipe, data: Path, out: Path, tag: Optional[str] = None) -> str:
    """The ``resnet-zoo train`` command that repeats a run, with every recipe option spelled out."""
    words = ["resnet-zoo", "train", "--data", str(data), "--out", str(out)] + (["--tag", tag] if tag else [])
    for f in fields(recipe):
        value, option = getattr(recipe, f.name), f"--{f.name.replace('_', '-')}"
        if isinstance(value, bool):
            words += [option] if value else []
        elif value is not None:
            words += [option, str(value)]
    return shlex.join(words)


def _resume(checkpoint: Path, recipe: Recipe, device: torch.device) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Tensors and state of ``checkpoint``, after checking that it continues ``recipe`` on this kind of device."""
    if not checkpoint.is_file():
        raise ZooError(f"--resume: there is no {checkpoint} to resume from")
    tensors, state = load_checkpoint(checkpoint)
    saved = asdict(_saved_recipe(state))
    changed = [f"--{k.replace('_', '-')} {saved[k]} (checkpoint) vs {v} (now)"
               for k, v in asdict(recipe).items() if saved[k] != v]
    if changed:
        raise ZooError(f"--resume: {checkpoint} was written by another recipe: {'; '.join(changed)}")
    if state["device_type"] != device.type:
        raise ZooError(f"--resume: {checkpoint} was written on {state['device_type']}; resume it on "
                       f"{state['device_type']}, not {device.type}")
    return tensors, state


def _saved_recipe(state: Dict[str, Any]) -> Recipe:
    """The recipe a checkpoint's ``state`` records; options added since it was written take their defaults."""
    return Recipe(**({f.name: f.default for f in fields(Recipe)} | state["recipe"]))


def _code(code: List[List[Any]], first_epoch: int) -> List[List[Any]]:
    """A run's ``code`` state, ``[first epoch, commit]`` per stretch, with this process's commit from
    ``first_epoch`` on unless it is the last one's."""
    commit = git_commit(Path(__file__))
    return code if code and code[-1][1] == commit else [*code, [first_epoch, commit]]


def _check_finite(record: Dict[str, Any], checkpoint: Path) -> None:
    bad = [f"{key} is {record[key]}" for key in ("train_loss", "test_loss") if not math.isfinite(record[key])]
    if bad:
        kept = f"{checkpoint} (epoch {record['epoch'] - 1})" if record["epoch"] > 1 else "none was written"
        raise TrainingDiverged(f"epoch {record['epoch']}: {', '.join(bad)}; training stopped. "
                               f"Last good checkpoint: {kept}")


def export_run(out: Path, folder: Optional[Path] = None) -> Path:
    """Export the evaluated weights (the EMA's, if the recipe keeps one) of the run in ``out`` at its checkpoint.

    `train` calls it when the run ends; called while a run is unfinished, it exports interim weights, and the card
    says after which epoch of how many they are. The card records the run's command, log, wall time and the
    hardware of the process that wrote the checkpoint.

    Args:
        out: The run folder (``--out``).
        folder: The model folder to write (default: ``OUT/MODEL.TAG``, where `train` exports).

    Returns:
        The folder written.

    Raises:
        WeightsError: If ``out`` holds no training checkpoint.
    """
    tensors, state = load_checkpoint(out / CHECKPOINT_FILE)
    recipe = _saved_recipe(state)
    history, tag = state["history"], state.get("tag") or default_tag(recipe.dataset)
    # a new model of the registered kind (plain BatchNorm, float32, on the CPU) with the evaluated weights
    model = create_model_for(recipe.model, recipe.dataset, classes=state.get("classes"))
    model.load_state_dict(eval_weights(tensors))
    final = history[-1]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / TRAIN_LOG_NAME
        write_train_log(log, history)  # the checkpoint's epochs, not lines a killed run wrote after it
        return export(
            model, folder or out / f"{recipe.model}.{tag}", tag=tag, dataset=recipe.dataset,
            metrics=dict(top1=final["test_top1"], top5=final["test_top5"], loss=final["test_loss"]),
            recipe=asdict(recipe), command=state.get("command"), train_log=log, wall_time_s=final["wall_s"],
            hardware=state.get("hardware"), epochs=(state["epoch"], recipe.epochs), code=state.get("code"))


def hardware(device: torch.device, world_size: int = 1) -> str:
    """What a run trains on, as its model card says: the GPUs by name, or the CPU's model, vector unit and threads
    (e.g. ``"CPU: Intel(R) Xeon(R) Processor, AVX512, 2 threads"``)."""
    if device.type == "cuda":
        return f"{world_size}x {torch.cuda.get_device_name(device)}"
    cpu = (f"CPU: {_cpu_model()}, {torch.backends.cpu.get_cpu_capability()}"
           f"{', AMX' if fast_bf16(device) else ''}, {torch.get_num_threads()} threads")
    return f"{world_size} processes, each {cpu}" if world_size > 1 else cpu


def _cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or ``platform.processor()`` where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown model"


def _train(recipe: Recipe, options: RunOptions, ranks: Ranks, device: torch.device, start: float) -> Path:
    ranks.local_batch_size(recipe.batch_size)  # the global batch splits evenly across the processes
    tag = options.tag or default_tag(recipe.dataset)
    out = check_writable(options.folder(recipe), "--out")
    checkpoint, log = out / CHECKPOINT_FILE, out / TRAIN_LOG_NAME
    resumed = _resume(checkpoint, recipe, device) if options.resume else None
    if resumed is None and checkpoint.exists():
        raise ZooError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")

    train_split = create_dataset(recipe.dataset, options.data, "train", recipe.subset, download=options.download)
    test_split = create_dataset(recipe.dataset, options.data, "test", recipe.test_subset)
    if test_split.classes != train_split.classes:
        raise ZooError(f"the test split's classes differ from the train split's under {options.data}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    training = build_training(recipe, device, options.compile, classes=train_split.classes, ranks=ranks)
    train_loader, test_loader = training.loaders(train_split, test_split, workers=options.workers)

    history: List[Dict[str, Any]] = []
    if resumed is not None:
        tensors, state = resumed
        training.load_state_tensors(tensors)
        history = state["history"]
    if ranks.is_main and resumed is not None:
        write_train_log(log, history)  # drops lines of epochs after the checkpoint
    previous_wall = history[-1]["wall_s"] if history else 0.
    code = _code(resumed[1].get("code", []) if resumed is not None else [], len(history) + 1)
    command, run_hardware = command_line(recipe, options.data, out, options.tag), hardware(device, ranks.world_size)

    per_epoch = len(train_loader) * recipe.batch_size
    with tqdm(total=recipe.epochs * per_epoch, initial=len(history) * per_epoch, unit="img", unit_scale=True,
              dynamic_ncols=True, disable=None if ranks.is_main else True) as progress:
        for epoch in range(len(history), recipe.epochs):
            progress.set_description(f"epoch {epoch + 1}/{recipe.epochs}")
            trained = train_one_epoch(training, train_loader, epoch, progress)
            broadcast_buffers(training.eval_model)  # rank 0's BatchNorm statistics, the ones checkpointed
            tested = training.evaluate(test_loader)
            record = dict(
                epoch=epoch + 1, train_loss=trained["train_loss"], lr=trained["lr"],
                train_top1=trained["train_top1"], test_top1=tested.top1, test_top5=tested.top5,
                test_loss=tested.loss, img_per_s=trained["img_per_s"],
                wall_s=previous_wall + time.perf_counter() - start)
            _check_finite(record, checkpoint)
            history.append(record)
            if ranks.is_main:
                out.mkdir(parents=True, exist_ok=True)  # a new run's folder, once it has an epoch to hold
                save_checkpoint(checkpoint, training.state_tensors(), dict(
                    epoch=epoch + 1, recipe=asdict(recipe), device_type=device.type, history=history, tag=tag,
                    classes=list(train_split.classes), command=command, hardware=run_hardware, code=code))
                if len(history) == 1:  # a new run: no lines of an older one
                    write_train_log(log, history)
                else:
                    append_train_log(log, record)
                progress.write(f"epoch {epoch + 1}: train loss {record['train_loss']:.4f}, test top-1 "
                               f"{record['test_top1']:.2f}%, {record['img_per_s']:,.0f} img/s")
    folder = out / f"{recipe.model}.{tag}"
    if ranks.is_main:
        export_run(out, folder)
    barrier()  # the export exists when any process returns
    return folder
