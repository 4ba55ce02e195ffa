"""A training run: `train` takes a `Recipe` and `RunOptions` through its epochs, or as many as a time budget
allows, and keeps the run in its Hub model folder.

The run folder ``OUT`` is made when the first epoch ends. Each epoch appends one JSON line to
``OUT/train_log.jsonl`` (`resnet_zoo.train_log.LOG_KEYS`) and replaces ``OUT/checkpoint.safetensors`` atomically
(model, EMA, optimizer and RNG states as tensors, see `resnet_zoo.checkpoint`; recipe, history, tag, classes
and sittings as JSON metadata). ``--resume`` continues a killed run from that checkpoint to the same final
weights as an uninterrupted run. A NaN or infinite loss stops the run and leaves the last good checkpoint.

Each epoch also replaces the run state in the run's model folder (``--hub-folder``, by default ``OUT/MODEL.TAG``;
see `resnet_zoo.run_state`): the model, its EMA and the run's state, which ``--resume FOLDER`` (or
``hf-hub:ORG/NAME``) continues on any machine, in a new run folder. Every process that trains a stretch of the run
is a *sitting*; the state lists them (epochs, hardware, precision, resnet_zoo commit, wall time, how it started)
and the model card shows them. When the schedule ends, the EMA model is exported into the model folder
(`export_run`) if the folder holds no weights yet or the run scores higher than its weights on the full test set;
the run state then goes. Otherwise the weights stay, and so does the finished run's state.

With a time budget (`resnet_zoo.budget`) a sitting stops at the last epoch boundary that fits, its state kept.

Started by ``torchrun``, every process trains its part of each batch under DistributedDataParallel (NCCL on
GPUs, gloo on the CPU; see `resnet_zoo.distributed`); the recipe's batch size is the global batch, so the
learning rate and the schedule do not depend on the number of processes, and a run resumes with any number.
Only rank 0 prints, logs, checkpoints and exports.
"""
import math
import shlex
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from tqdm import tqdm

from . import __version__
from .budget import Budget, BudgetTooShort, format_duration
from .cards import CARD_NAME, read_card
from .checkpoint import MODEL_PREFIX, add_prefix, eval_weights, load_checkpoint, read_state, save_checkpoint
from .constants import CHECKPOINT_FILE, DEFAULT_WORKERS, RUNS_FOLDER, default_tag
from .datasets import Loader, class_difference, create_dataset
from .devices import hardware, resolve_device
from .distributed import Ranks, barrier, broadcast_buffers, destroy_process_group, init_process_group
from .engine import Training, build_training, train_one_epoch
from .errors import DataError, ZooError
from .evaluation import EvalMetrics
from .factory import create_model_for
from .files import check_writable
from .grow import initial_weights
from .hub import CONFIG_NAME, check_tag, export, git_commit, read_config
from .imagefolder import check_workers
from .pretrained import weights_name
from .recipe import Recipe, recipe_defaults
from .run_state import data_seed, is_hub_id, read_run_state, run_state_file, run_state_path, save_run_state
from .train_log import LOG_KEYS, TRAIN_LOG_NAME, append_train_log, write_train_log

SITTING_FIELDS = ("precision",)
"""Recipe fields that may change from one sitting to the next: they decide how fast a run computes, not what."""

State = Dict[str, Any]


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run executes: what ``resnet-zoo train`` takes besides the `Recipe`.

    Attributes:
        data: Folder holding the dataset (see `resnet_zoo.datasets.create_dataset`).
        out: Run folder (``None``: ``runs/MODEL.TAG``, or the run folder ``resume`` names).
        tag: Pretrained tag of the export (``None``: `resnet_zoo.constants.default_tag` of the dataset, or the tag
            of the run that ``resume`` continues).
        resume: ``True`` continues the run in ``out`` from its checkpoint, exactly; a path continues the run kept
            in that model folder (or, ``hf-hub:ORG/NAME[@REVISION]``, Hub repo), or a run folder exactly.
        download: Fetch a CIFAR dataset with torchvision if it is missing.
        device: Where to train (``None``: CUDA if available, else the CPU); under ``torchrun`` a CUDA device
            means ``cuda:LOCAL_RANK``.
        compile: Compile the step (``None``: on CUDA only).
        workers: Image decoding processes per process, for an image folder.
        hub_folder: The run's model folder, which keeps its state and receives its weights (``None``: the folder
            ``resume`` names, else ``OUT/MODEL.TAG``).
        time_budget: Seconds this sitting may take; it stops at the last epoch boundary that fits.
        probe: How ``--precision auto`` chose the recipe's precision by measuring (`resnet_zoo.probe.Probe.describe`),
            recorded with the sitting.
        init: Weights a new run starts from (`resnet_zoo.grow.initial_weights`): registered weights
            (``cifar_resnet56.rz_cifar10``), a model folder or ``hf-hub:ORG/NAME``, of the run's architecture or a
            shallower CIFAR ResNet (``None``: the recipe's random initialisation).

    Raises:
        ZooError: If ``tag`` is not a pretrained tag, ``workers`` is negative, ``time_budget`` not above 0, or
            ``init`` is given to a run that ``resume`` continues.
    """

    data: Path
    out: Optional[Path] = None
    tag: Optional[str] = None
    resume: Union[bool, str, Path] = False
    download: bool = False
    device: Optional[torch.device] = None
    compile: Optional[bool] = None
    workers: int = DEFAULT_WORKERS
    hub_folder: Optional[Path] = None
    time_budget: Optional[float] = None
    probe: Optional[str] = None
    init: Optional[str] = None

    def __post_init__(self):
        if self.tag is not None:
            check_tag(self.tag)
        check_workers(self.workers)
        if self.time_budget is not None and not self.time_budget > 0:
            raise ZooError(f"--time-budget must be above zero, got {self.time_budget} s")
        if self.init is not None and self.resume is not False:
            raise ZooError("--init starts a new run from weights; --resume continues one with its own")
        run_folder = self._resumed_run_folder
        if run_folder is not None and self.out is not None and Path(self.out) != run_folder:
            raise ZooError(f"--resume {run_folder} is a run folder, which continues in place; drop --out {self.out}")

    @property
    def _resumed_run_folder(self) -> Optional[Path]:
        """The run folder that ``resume`` names, if it names one."""
        if isinstance(self.resume, bool) or is_hub_id(str(self.resume)):
            return None
        return Path(self.resume) if (Path(self.resume) / CHECKPOINT_FILE).is_file() else None

    @property
    def exact(self) -> bool:
        """Whether the run continues a run folder's checkpoint exactly (optimizer and generators included)."""
        return self.resume is True or self._resumed_run_folder is not None

    @property
    def continues(self) -> Optional[str]:
        """The model folder or Hub repo whose run state this run continues, or ``None``."""
        return None if isinstance(self.resume, bool) or self.exact else str(self.resume)

    def folder(self, recipe: Recipe) -> Path:
        """The run folder: ``out``, the run folder ``resume`` names, or ``runs/MODEL.TAG``."""
        return self.out or self._resumed_run_folder or Path(RUNS_FOLDER) / weights_name(
            recipe.model, run_tag(recipe, self.tag))

    def model_folder(self, recipe: Recipe, tag: str) -> Path:
        """The run's model folder: ``hub_folder``, the local folder whose run it continues, or ``OUT/MODEL.TAG``."""
        if self.hub_folder is not None:
            return Path(self.hub_folder)
        if self.continues is not None and not is_hub_id(self.continues):
            return Path(self.continues)
        return self.folder(recipe) / weights_name(recipe.model, tag)


@dataclass(frozen=True)
class RunResult:
    """What a sitting of `train` leaves.

    Attributes:
        folder: The run's model folder.
        epoch: Epochs of the schedule done.
        epochs: Epochs of the schedule.
        top1: The top-1 (%) of the evaluated model after the last epoch done: at the recipe's precision, or once
            the schedule is done, of the exact float32 model (as its card records it).
        exported: Whether this sitting exported the run's weights into ``folder``.
        continue_with: The command that continues the run (while it is unfinished).
    """

    folder: Path
    epoch: int
    epochs: int
    top1: float
    exported: bool
    continue_with: str

    @property
    def finished(self) -> bool:
        """Whether the schedule is done."""
        return self.epoch == self.epochs


def train(recipe: Recipe, options: RunOptions) -> RunResult:
    """Train ``recipe`` (or continue it) for its epochs or as many as ``options.time_budget`` allows, checkpoint and
    log every epoch, keep the run's state in its model folder, and when the schedule ends export the evaluated
    model there (if it scores higher than the weights already there).

    Under ``torchrun`` every process calls it with the same arguments; they train together and rank 0 writes.

    Raises:
        ZooError: For bad options or data, a run folder that holds another run, a run state of another recipe, a
            time budget too short for one epoch (`resnet_zoo.budget.BudgetTooShort`), or a diverged loss
            (`TrainingDiverged`).
    """
    start = time.perf_counter()
    ranks, device = init_process_group(resolve_device() if options.device is None else options.device)
    try:
        return _train(recipe, options, ranks, device, start)
    finally:
        destroy_process_group()


DATA, OUT = "DATA", "OUT"
"""The placeholders of the data and run folders in the commands a card or a run state shows: they name no path of
the machine that trained."""


def command_line(recipe: Recipe, tag: Optional[str] = None, init: Optional[str] = None) -> str:
    """The ``resnet-zoo train`` command that repeats a run, with every recipe option spelled out and the
    placeholders `DATA` and `OUT` for its folders; ``--tag`` unless ``tag`` is the dataset's default, ``--init``
    with the weights ``init`` names (``cifar_resnet56.rz_cifar10``) if the run started from them."""
    tag = None if tag == default_tag(recipe.dataset) else tag
    words = ["resnet-zoo", "train", "--data", DATA, "--out", OUT] + (["--tag", tag] if tag else []) \
        + (["--init", init] if init else [])
    for f in fields(recipe):
        value, option = getattr(recipe, f.name), f"--{f.name.replace('_', '-')}"
        if isinstance(value, bool):
            words += [option] if value else []
        elif value is not None:
            words += [option, str(value)]
    return shlex.join(words)


def run_tag(recipe: Recipe, *tags: Optional[str]) -> str:
    """The tag of a run's weights: the first of ``tags`` given (the run's own, ``--tag``), else the default of its
    dataset (`resnet_zoo.constants.default_tag`)."""
    return next((tag for tag in tags if tag), default_tag(recipe.dataset))


def resumed_recipe(options: RunOptions, recipe: Optional[Recipe] = None) -> Optional[Recipe]:
    """The recipe of the run that ``options.resume`` continues, as its state records it; ``None`` for a new run,
    or a run folder without a checkpoint (`train` says so). ``recipe`` names the model and dataset of the default
    run folder ``runs/MODEL.TAG``.

    Raises:
        ZooError: If a model folder or Hub repo to continue holds no run state.
    """
    if options.continues is not None:
        return saved_recipe(read_state(run_state_path(options.continues)))
    if not options.exact or recipe is None and options.out is None and options.resume is True:
        return None
    checkpoint = options.folder(recipe) / CHECKPOINT_FILE
    return saved_recipe(read_state(checkpoint)) if checkpoint.is_file() else None


def _changed(recipe: Recipe, state: State) -> List[str]:
    """The recipe options of ``recipe`` that differ from the run ``state`` records, sitting options aside."""
    saved = asdict(saved_recipe(state))
    return [f"--{k.replace('_', '-')} {saved[k]} (run) vs {v} (now)" for k, v in asdict(recipe).items()
            if saved[k] != v and k not in SITTING_FIELDS]


def _resumed(recipe: Recipe, options: RunOptions, checkpoint: Path,
             device: torch.device) -> Optional[Tuple[Dict[str, torch.Tensor], State, str]]:
    """The tensors and state that the run continues, and how it starts (``"exact"``: a run folder's checkpoint;
    ``"hub"``: a model folder's run state), after checking that they continue ``recipe``; ``None`` for a new run."""
    if options.exact:
        if not checkpoint.is_file():
            raise ZooError(f"--resume: there is no {checkpoint} to resume from")
        tensors, state = load_checkpoint(checkpoint)
        source, how = checkpoint, "exact"
        if state["device_type"] != device.type:
            raise ZooError(f"--resume: {checkpoint} was written on {state['device_type']}; resume it on "
                           f"{state['device_type']}, not {device.type}")
    elif options.continues is not None:
        source, how = options.continues, "hub"
        tensors, state = read_run_state(source)
    else:
        return None
    changed = _changed(recipe, state)
    if changed:
        raise ZooError(f"--resume: {source} was written by another recipe: {'; '.join(changed)}")
    tag = run_tag(recipe, state.get("tag"))
    if options.tag is not None and options.tag != tag:
        raise ZooError(f"--resume: {source} is a run of tag {tag}, not --tag {options.tag}")
    if how == "hub" and len(state["history"]) >= recipe.epochs:  # a finished run folder still exports
        raise ZooError(f"--resume: the run in {source} is finished (epoch {recipe.epochs} of {recipe.epochs}); "
                       f"start a new cycle from its weights with --init")
    return tensors, state, how


def saved_recipe(state: State) -> Recipe:
    """The recipe a checkpoint's ``state`` records; options added since it was written take their defaults.

    Raises:
        ZooError: If it records options this version does not know (a state written by a newer resnet_zoo).
    """
    defaults = recipe_defaults()
    unknown = sorted(set(state["recipe"]) - set(defaults))
    if unknown:
        raise ZooError(f"the run's recipe has options this resnet_zoo {__version__} does not know "
                       f"({', '.join(unknown)}): a newer version wrote it; upgrade resnet-zoo to continue it")
    return Recipe(**(defaults | state["recipe"]))


def _check_model_folder(folder: Path, recipe: Recipe, tag: str, continued: Optional[State]) -> None:
    """``folder`` may keep this run: its weights, if any, are of ``recipe.model`` and ``tag``, and its run state, if
    any, is this run's (the one ``continued`` continues)."""
    name = weights_name(recipe.model, tag)
    if (folder / CONFIG_NAME).is_file():
        cfg = read_config(folder)
        held = weights_name(cfg["architecture"], cfg["pretrained_cfg"]["tag"])
        if held != name:
            raise ZooError(f"--hub-folder {folder} holds the weights {held}, not {name}")
    if not run_state_file(folder).is_file():
        return
    state = load_checkpoint(run_state_file(folder))[1]
    if continued is None:
        raise ZooError(f"--hub-folder {folder} already keeps a run (epoch {state['epoch']} of "
                       f"{state['recipe']['epochs']}): continue it with --resume {folder}, or choose another folder")
    if _changed(saved_recipe(state), continued) or state["history"][:1] != continued["history"][:1]:
        raise ZooError(f"--hub-folder {folder} keeps another run than the one resumed; choose another folder")


def _sittings(state: State) -> List[State]:
    """The sittings a run ``state`` records; for a state of before sittings, its ``code`` stretches with the one
    ``hardware`` it names and the wall times of its log."""
    if "sittings" in state:
        return list(state["sittings"])
    history, code = state["history"], state.get("code") or []
    ends = [first - 1 for first, _ in code[1:]] + [len(history)]
    precision = saved_recipe(state).precision
    return [dict(first_epoch=first, last_epoch=last, hardware=state.get("hardware") or "not recorded",
                 precision=precision, commit=commit,
                 wall_s=history[last - 1]["wall_s"] - (history[first - 2]["wall_s"] if first > 1 else 0.),
                 start="new" if first == 1 else "exact")
            for (first, commit), last in zip(code, ends)]


def _code(sittings: List[State]) -> List[List[Any]]:
    """``[first epoch, commit]`` of each stretch of sittings that one resnet_zoo commit trained."""
    code: List[List[Any]] = []
    for sitting in sittings:
        if not code or code[-1][1] != sitting["commit"]:
            code.append([sitting["first_epoch"], sitting["commit"]])
    return code


def _check_finite(record: Dict[str, Any], checkpoint: Path) -> None:
    bad = [f"{key} is {record[key]}" for key in ("train_loss", "test_loss") if not math.isfinite(record[key])]
    if bad:
        kept = f"{checkpoint} (epoch {record['epoch'] - 1})" if record["epoch"] > 1 else "none was written"
        raise TrainingDiverged(f"epoch {record['epoch']}: {', '.join(bad)}; training stopped. "
                               f"Last good checkpoint: {kept}")


def export_run(out: Path, folder: Optional[Path] = None, keep_run: bool = True,
               metrics: Optional[EvalMetrics] = None) -> Path:
    """Export the evaluated weights (the EMA's, if the recipe keeps one) of the run in ``out`` at its checkpoint.

    `train` calls it when the run ends; called while a run is unfinished, it exports interim weights, and the card
    says after which epoch of how many they are. The card records the run's command (`command_line`), log, wall
    time, and the hardware, precision and code of each sitting.

    Args:
        out: The run folder (``--out``).
        folder: The model folder to write (default: ``OUT/MODEL.TAG``, where `train` exports).
        keep_run: Keep the run state that ``folder`` holds (`resnet_zoo.hub.export`).
        metrics: The metrics the card records (default: the last epoch's in the log, at the recipe's precision);
            `train` gives those of the exact float32 model, which ``validate --precision fp32`` reproduces.

    Returns:
        The folder written.

    Raises:
        WeightsError: If ``out`` holds no training checkpoint.
    """
    tensors, state = load_checkpoint(out / CHECKPOINT_FILE)
    recipe = saved_recipe(state)
    history, tag = state["history"], run_tag(recipe, state.get("tag"))
    sittings = _sittings(state)
    # a new model of the registered kind (plain BatchNorm, float32, on the CPU) with the evaluated weights
    model = create_model_for(recipe.model, recipe.dataset, classes=state.get("classes"))
    model.load_state_dict(eval_weights(tensors))
    final = history[-1]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / TRAIN_LOG_NAME
        write_train_log(log, history)  # the checkpoint's epochs, not lines a killed run wrote after it
        return export(
            model, folder or out / weights_name(recipe.model, tag), tag=tag, dataset=recipe.dataset,
            metrics=dict(top1=final["test_top1"], top5=final["test_top5"], loss=final["test_loss"]) if metrics is None
            else dict(top1=metrics.top1, top5=metrics.top5, loss=metrics.loss),
            recipe=asdict(recipe), command=command_line(recipe, tag, _init_name(state)), train_log=log,
            wall_time_s=final["wall_s"],
            hardware="; ".join(dict.fromkeys(s["hardware"] for s in sittings)) or state.get("hardware"),
            epochs=(state["epoch"], recipe.epochs), code=_code(sittings) or None, sittings=sittings or None,
            initialisation=_initialisation(state), teacher="; ".join(state.get("teacher") or []) or None,
            keep_run=keep_run)


def _initialisation(state: State) -> Optional[str]:
    """Where a run's weights started, as its card says (``None`` for a state of before sittings)."""
    if state.get("init"):
        return f"{state['init']['weights']}; top-1 {state['init']['top1']:.2f}% before training"
    return f"random (seed {saved_recipe(state).seed})" if "sittings" in state else None


def _init_name(state: State) -> Optional[str]:
    """The registered name (``cifar_resnet56.rz_cifar10``) of the weights a run started from, the first word of
    their description (`resnet_zoo.grow.InitialWeights.describe`); ``None`` for a run from random weights."""
    return state["init"]["weights"].split(" ", 1)[0] if state.get("init") else None


def _shipped_top1(folder: Path) -> Optional[float]:
    """The top-1 of the weights a model folder ships, as its card says (``None`` without weights or a top-1)."""
    if not (folder / CONFIG_NAME).is_file():
        return None
    return read_card(folder / CARD_NAME).metrics.get("top1")


@dataclass
class _Sitting:
    """A sitting of a run, set up by `_set_up`: the training and its batches, where it writes, and the run so far.

    Attributes:
        training: The model, its EMA and optimizer, loaded with the run's weights.
        train_loader: Batches of the train split.
        test_loader: Batches of the test split, evaluated after every epoch.
        out: The run folder.
        hub: The run's model folder.
        tag: The pretrained tag of the run's weights.
        classes: The class names of the data.
        init: Where the weights started (``--init``), as the state records it, if not at random.
        history: The log of the epochs done, one record an epoch.
        sittings: The earlier sittings of the run.
        sitting: This sitting, as the state records it.
        continue_with: The command that continues the run.
    """

    training: Training
    train_loader: Loader
    test_loader: Loader
    out: Path
    hub: Path
    tag: str
    classes: List[str]
    init: Optional[State]
    history: List[Dict[str, Any]]
    sittings: List[State]
    sitting: State
    continue_with: str

    def state(self) -> State:
        """The run's state after its last epoch done, as its checkpoints and its model folder keep it."""
        recipe = self.training.recipe
        return dict(epoch=len(self.history), recipe=asdict(recipe), device_type=self.training.device.type,
                    history=self.history, tag=self.tag, classes=self.classes, sittings=[*self.sittings, self.sitting],
                    **({"init": self.init} if self.init else {}),
                    **({"teacher": self.training.teacher.names} if self.training.teacher else {}))


def _set_up(recipe: Recipe, options: RunOptions, ranks: Ranks, device: torch.device, timed: bool) -> _Sitting:
    """Check the run's folders, read what it continues, and build its training and batches; ``timed``: the sitting
    has a time budget (the command that continues it then asks for one)."""
    ranks.local_batch_size(recipe.batch_size)  # the global batch splits evenly across the processes
    out = check_writable(options.folder(recipe), "--out")
    checkpoint = out / CHECKPOINT_FILE
    resumed = _resumed(recipe, options, checkpoint, device)
    if resumed is None and checkpoint.exists():
        raise ZooError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    continued = resumed[1] if resumed is not None else None
    tag = run_tag(recipe, (continued or {}).get("tag"), options.tag)
    hub = check_writable(options.model_folder(recipe, tag), "--hub-folder")
    _check_model_folder(hub, recipe, tag, continued)

    train_split = create_dataset(recipe.dataset, options.data, "train", recipe.subset, download=options.download)
    if len(train_split) < recipe.batch_size:
        raise DataError(f"--batch-size {recipe.batch_size} is more than the {len(train_split)} training images under "
                        f"{options.data}: an epoch would have no step")
    test_split = create_dataset(recipe.dataset, options.data, "test", recipe.test_subset)
    if test_split.classes != train_split.classes:
        raise ZooError(f"the test split's classes differ from the train split's under {options.data}")
    difference = class_difference(train_split.classes, continued.get("classes", train_split.classes), "the run's") \
        if continued is not None else None
    if difference:
        raise DataError(f"the classes under {options.data} are not the run's: {difference}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    training = build_training(recipe, device, options.compile, classes=train_split.classes, ranks=ranks)
    _check_teacher(training, continued)
    train_loader, test_loader = training.loaders(train_split, test_split, workers=options.workers)

    history: List[Dict[str, Any]] = []
    sittings: List[State] = []
    how, init = "new", None
    if resumed is not None:
        tensors, state, how = resumed
        history, sittings, init = list(state["history"]), _sittings(state), state.get("init")
        if how == "exact":
            training.load_state_tensors(tensors)
        else:
            training.load_weights(tensors, data_seed(recipe.seed, len(history)))
    elif options.init is not None:
        init = _start_from(training, options.init, test_loader)
        if ranks.is_main:
            print(f"starting from {init['weights']}: top-1 {init['top1']:.2f}% before training", flush=True)
    if ranks.is_main and how == "exact":
        write_train_log(out / TRAIN_LOG_NAME, history)  # drops lines of epochs after the checkpoint
    sitting = dict(first_epoch=len(history) + 1, last_epoch=len(history), hardware=hardware(device, ranks.world_size),
                   precision=recipe.precision, commit=git_commit(Path(__file__)), wall_s=0., start=how,
                   **({"probe": options.probe} if options.probe else {}),
                   **({"compiled": True} if training.step.compile else {}))
    continue_with = shlex.join(["resnet-zoo", "train", "--resume", str(hub), "--data", DATA, "--out", OUT,
                                *(["--time-budget", "DURATION"] if timed else [])])
    return _Sitting(training, train_loader, test_loader, out, hub, tag, list(train_split.classes), init, history,
                    sittings, sitting, continue_with)


def _check_teacher(training: Training, continued: Optional[State]) -> None:
    """A continued run distils from the very weights it started with (a registered name may ship newer ones)."""
    now = training.teacher.names if training.teacher else None
    if continued is not None and continued.get("teacher") != now:
        raise ZooError(f"--resume: the teacher's weights are not the run's: {continued.get('teacher')} (run) vs "
                       f"{now} (now)")


def _train(recipe: Recipe, options: RunOptions, ranks: Ranks, device: torch.device, start: float) -> RunResult:
    """`train` in a process of the run: the sitting `_set_up` makes, its epochs within the budget (each one
    checkpointed and logged), and once the schedule is done the exact evaluation and the export."""
    budget = Budget(options.time_budget, start) if options.time_budget is not None else None
    s = _set_up(recipe, options, ranks, device, timed=budget is not None)
    history, sitting = s.history, s.sitting
    previous_wall = history[-1]["wall_s"] if history else 0.
    per_epoch = len(s.train_loader) * recipe.batch_size
    tested = None
    with tqdm(total=recipe.epochs * per_epoch, initial=len(history) * per_epoch, unit="img", unit_scale=True,
              dynamic_ncols=True, disable=None if ranks.is_main else True) as progress:
        for epoch in range(len(history), recipe.epochs):
            if budget is not None:
                if not budget.next_epoch_fits():
                    break
                budget.start_epoch()
            progress.set_description(f"epoch {epoch + 1}/{recipe.epochs}")
            trained = train_one_epoch(s.training, s.train_loader, epoch, progress, budget.stop if budget else None)
            if trained is None:
                if sitting["last_epoch"] < sitting["first_epoch"]:
                    raise BudgetTooShort(
                        f"--time-budget {format_duration(budget.seconds)} is too short for one epoch here: epoch "
                        f"{epoch + 1} with its evaluation would take about {format_duration(budget.projection)}; "
                        f"nothing was written")
                break
            trained_at = time.perf_counter()
            broadcast_buffers(s.training.eval_model)  # rank 0's BatchNorm statistics, the ones checkpointed
            tested = s.training.evaluate(s.test_loader)
            now = time.perf_counter()
            values = dict(trained, epoch=epoch + 1, test_top1=tested.top1, test_top5=tested.top5,
                          test_loss=tested.loss, wall_s=previous_wall + now - start)
            record = {key: values[key] for key in LOG_KEYS}  # the log's keys, in its order
            _check_finite(record, s.out / CHECKPOINT_FILE)
            history.append(record)
            sitting.update(last_epoch=epoch + 1, wall_s=now - start)
            if ranks.is_main:
                _save(s.training, s.out, s.hub, s.state(), s.continue_with)
                progress.write(f"epoch {epoch + 1}: train loss {record['train_loss']:.4f}, test top-1 "
                               f"{record['test_top1']:.2f}%, {record['img_per_s']:,.0f} img/s")
            if budget is not None:
                budget.end_epoch(trained_at)
    exported, top1 = False, history[-1]["test_top1"] if history else float("nan")
    if len(history) == recipe.epochs:
        # a float32 run's evaluation of its last epoch is the exact one; otherwise by every process, on its shard
        exact = tested if tested is not None and recipe.precision == "fp32" else \
            s.training.evaluate(s.test_loader, "fp32")
        top1 = exact.top1
        if ranks.is_main:
            exported = _finish(s.out, s.hub, recipe, exact)
    barrier()  # the export exists when any process returns
    return RunResult(s.hub, len(history), recipe.epochs, top1, exported, s.continue_with)


def _start_from(training: Training, source: str, test_loader: Loader) -> State:
    """Load the weights of ``--init`` into the model and its EMA; returns what the state records of them: the
    weights (`resnet_zoo.grow.InitialWeights.describe`) and their test top-1 before any training."""
    weights = initial_weights(source, training.model)
    training.load_weights(add_prefix(MODEL_PREFIX, weights.state_dict), data_seed(training.recipe.seed, 0))
    return dict(weights=weights.describe(), top1=training.evaluate(test_loader).top1)


def _save(training: Training, out: Path, hub: Path, state: State, continue_with: str) -> None:
    """Checkpoint an epoch: the whole training state in the run folder, the run state in its model folder."""
    out.mkdir(parents=True, exist_ok=True)  # a new run's folder, once it has an epoch to hold
    tensors = training.state_tensors()
    save_checkpoint(out / CHECKPOINT_FILE, tensors, state)
    sitting = state["sittings"][-1]
    if sitting["first_epoch"] == state["epoch"] and sitting["start"] != "exact":
        write_train_log(out / TRAIN_LOG_NAME, state["history"])  # a new run folder: no lines of an older run
    else:
        append_train_log(out / TRAIN_LOG_NAME, state["history"][-1])
    save_run_state(hub, tensors, state, continue_with)


def _finish(out: Path, hub: Path, recipe: Recipe, exact: EvalMetrics) -> bool:
    """Export the finished run into its model folder with its ``exact`` (float32) metrics, dropping its run state,
    unless the folder ships weights that it does not beat on the full test set; returns whether it exported."""
    shipped = _shipped_top1(hub)
    if shipped is not None and (recipe.test_subset is not None or exact.top1 <= shipped):
        return False
    export_run(out, hub, keep_run=False, metrics=exact)
    return True
