"""``resnet-zoo train``: the zoo's CIFAR recipe, fast on one GPU, reproducible, and distributed under torchrun.

    resnet-zoo train --model cifar_resnet56 --data DIR [--dataset cifar100] [--out DIR] [--resume]
    torchrun --nproc-per-node 8 -m resnet_zoo.train --model zoo_resnet50 --dataset imagefolder --data DIR ...

The recipe (the defaults of `Recipe`), a strong setting for CIFAR ResNet-20 … 110:

* 200 epochs of SGD with Nesterov momentum 0.9 at batch 512; peak learning rate 0.1 per 128 images (0.4),
  reached by a linear warmup over 5 epochs, then cosine decay to 0; updated every step.
* Weight decay 5e-4 on convolution and linear weights only, none on BatchNorm parameters and biases.
* Label smoothing 0.1.
* An EMA of the weights (decay 0.999, warmed up as timm's ``ModelEmaV3`` with power 3/4, so short runs
  follow the model closely); the EMA model is what each epoch evaluates and what is exported.
* Augmentation on the device: random crop of the image zero-padded by 4 pixels, horizontal flip; cutout off
  (``--cutout 16`` is the usual CIFAR-10 setting).
* channels_last, and bf16 autocast where the device computes bf16 natively (``--precision auto``: a GPU, or a
  CPU with AVX512-BF16/AMX; float32 elsewhere, see `resnet_zoo.precision`). On CUDA also forward + loss
  compiled by ``torch.compile`` with CUDA graphs (forward and backward replay as graphs) and fused SGD.

Each epoch appends one JSON line to ``OUT/train_log.jsonl`` (``epoch``, ``train_loss``, ``lr``,
``train_top1``, ``test_top1``, ``test_top5``, ``test_loss``, ``img_per_s``, ``wall_s``) and replaces
``OUT/checkpoint.safetensors`` atomically (model, EMA, optimizer and RNG states as tensors; recipe and history
as JSON metadata). ``--resume`` continues a killed run from that checkpoint to the same final weights as an
uninterrupted run. A NaN or infinite loss stops the run and leaves the last good checkpoint. At the end the
EMA model is exported with `resnet_zoo.hub.export` to ``OUT/MODEL.TAG``.

Started by ``torchrun``, every process trains its part of each batch under DistributedDataParallel (NCCL on
GPUs, gloo on the CPU; see `resnet_zoo.distributed`); ``--batch-size`` is the global batch, so the default
learning rate and the schedule do not depend on the number of processes, and a run resumes with any number.
Only rank 0 prints, logs, checkpoints and exports. ``--sync-bn`` computes BatchNorm statistics over the
global batch (CUDA only).
"""
import argparse
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from timm.optim import param_groups_weight_decay
from timm.utils import ModelEmaV3, unwrap_model
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .checkpoint import CHECKPOINT_FILE, load_checkpoint, load_training_state, save_checkpoint, training_state_tensors
from .datasets import (
    DATASET_NAMES, IMAGEFOLDER, Loader, Split, check_dataset, default_tag, generator_device, load_split, make_loader,
)
from .distributed import (
    Ranks, all_reduce_sum, barrier, broadcast_buffers, destroy_process_group, init_process_group, launched_ranks,
)
from .errors import ZooError
from .evaluation import EVAL_BATCH_SIZE, EvalMetrics, evaluate
from .factory import check_model_name, create_model_for, resolve_device
from .imagefolder import DEFAULT_WORKERS
from .precision import PRECISIONS, autocast_dtype, inference_model, resolve_precision
from .train_log import TRAIN_LOG_NAME, append_train_log, write_train_log

LR_PER_128 = 0.1
"""Peak learning rate per 128 images of batch; the default ``--lr`` scales it linearly with the batch size."""

MAX_WARMUP_EPOCHS = 5
"""Warmup of a long run; a run of fewer than ``10 x MAX_WARMUP_EPOCHS`` epochs warms up for a tenth of them."""


def default_warmup_epochs(epochs: int) -> int:
    """The default ``--warmup-epochs`` of an ``epochs``-epoch run: a tenth of it, at most `MAX_WARMUP_EPOCHS`."""
    return min(MAX_WARMUP_EPOCHS, epochs // 10)


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a training run computes (its options minus where and how fast it runs).

    Attributes:
        model: Model name in timm's registry.
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagefolder"``.
        epochs: Passes over the train images.
        batch_size: Images per step, over all processes of a distributed run.
        lr: Peak learning rate.
        momentum: Nesterov momentum.
        wd: Weight decay of convolution and linear weights.
        warmup_epochs: Epochs of linear learning-rate warmup before the cosine decay (``None``:
            `default_warmup_epochs`).
        label_smoothing: Label smoothing of the training loss.
        ema_decay: Decay of the weights' EMA; 0 keeps no EMA.
        cutout: Side of the cutout square; 0 turns cutout off (CIFAR only).
        sync_bn: BatchNorm statistics over the global batch of a distributed run (CUDA only).
        precision: ``"bf16"`` (autocast) or ``"fp32"``; ``resnet-zoo train`` resolves ``--precision auto`` for
            its device (`resnet_zoo.precision.resolve_precision`).
        seed: Seed of the initialisation, the order and the augmentations.
        subset: Train on the first ``subset`` train images only (``None``: all).
        test_subset: Evaluate on the first ``test_subset`` test images only (``None``: all).

    Raises:
        ZooError: If the model is not a resnet_zoo model, the dataset is unknown, or a value is out of range.
    """

    model: str = "cifar_resnet56"
    dataset: str = "cifar10"
    epochs: int = 200
    batch_size: int = 512
    lr: float = LR_PER_128 * 512 / 128
    momentum: float = 0.9
    wd: float = 5e-4
    warmup_epochs: Optional[int] = None
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    cutout: int = 0
    sync_bn: bool = False
    precision: str = "fp32"
    seed: int = 0
    subset: Optional[int] = None
    test_subset: Optional[int] = None

    def __post_init__(self):
        check_model_name(self.model)
        check_dataset(self.dataset)
        if self.warmup_epochs is None:
            object.__setattr__(self, "warmup_epochs", default_warmup_epochs(self.epochs))
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.lr > 0, "--lr must be positive"),
            (0 <= self.momentum < 1, "--momentum must lie in [0, 1)"),
            (self.wd >= 0, "--wd must not be negative"),
            (0 <= self.warmup_epochs < self.epochs, "--warmup-epochs must lie in [0, --epochs)"),
            (0 <= self.label_smoothing < 1, "--label-smoothing must lie in [0, 1)"),
            (0 <= self.ema_decay < 1, "--ema-decay must lie in [0, 1) (0: no EMA)"),
            (self.cutout >= 0, "--cutout must not be negative"),
            (self.precision in ("bf16", "fp32"), "--precision must be bf16 or fp32 (auto is resolved before)"),
            (not (self.cutout and self.dataset == IMAGEFOLDER), "--cutout is for CIFAR, not an image folder"),
            (self.subset is None or self.subset >= self.batch_size,
             "--subset must hold at least one batch (--batch-size images)"),
            (self.test_subset is None or self.test_subset >= 1, "--test-subset must be at least 1"),
        ]
        errors = [message for ok, message in checks if not ok]
        if errors:
            raise ZooError("; ".join(errors))

    @classmethod
    def from_args(cls, args: argparse.Namespace, device: torch.device) -> "Recipe":
        """The recipe of ``resnet-zoo train``'s options on ``device``: ``--lr`` defaults to `LR_PER_128` x batch
        size / 128, ``--precision auto`` becomes what ``device`` computes natively."""
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        if values["lr"] is None:
            values["lr"] = LR_PER_128 * args.batch_size / 128
        values["precision"] = resolve_precision(args.precision, device)
        return cls(**values)

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based): linear warmup, then cosine decay to 0."""
        warmup = self.warmup_epochs * steps_per_epoch
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / (self.epochs * steps_per_epoch - warmup)
        return self.lr * 0.5 * (1. + math.cos(math.pi * progress))


def create_optimizer(model: nn.Module, recipe: Recipe, fused: bool = False) -> torch.optim.SGD:
    """SGD with Nesterov momentum; weight decay on weights of rank > 1 only (not on BatchNorm or biases).

    Args:
        model: The model to optimise.
        recipe: Supplies ``lr``, ``momentum`` and ``wd``.
        fused: Use the fused CUDA implementation (one kernel for all parameters).
    """
    groups = param_groups_weight_decay(model, recipe.wd)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=True, fused=fused or None)


class TrainStep:
    """One optimisation step on a batch: forward and loss, backward, SGD update, EMA update.

    With ``compile`` the forward and loss go through ``torch.compile`` (on CUDA in a single process in
    ``"reduce-overhead"`` mode, so that forward and backward replay as CUDA graphs; under
    DistributedDataParallel without CUDA graphs, as the gradients' all-reduce runs between them); without it the
    step is plain eager PyTorch.

    Args:
        model: The model being trained (in train mode), possibly wrapped in DistributedDataParallel.
        optimizer: Its optimizer; the step sets every group's learning rate.
        ema: The EMA of the model's weights, or ``None``.
        label_smoothing: Label smoothing of the cross-entropy loss.
        dtype: Autocast dtype, or ``None`` for the model's own precision.
        compile: Compile the forward and loss.
    """

    def __init__(
            self,
            model: nn.Module,
            optimizer: torch.optim.Optimizer,
            ema: Optional[ModelEmaV3],
            label_smoothing: float = 0.,
            dtype: Optional[torch.dtype] = None,
            compile: bool = False,
    ):
        self.model = model
        self.optimizer = optimizer
        self.ema = ema
        self.dtype = dtype
        self.compile = compile
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.forward = self._forward
        if compile:
            distributed = isinstance(model, DistributedDataParallel)
            graphs = next(model.parameters()).is_cuda and not distributed
            self.forward = torch.compile(self._forward, fullgraph=not distributed,
                                         mode="reduce-overhead" if graphs else None)

    def _forward(self, images: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(images.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            logits = self.model(images)
        return self.criterion(logits.float(), labels), (logits.argmax(dim=1) == labels).sum()

    def __call__(
            self,
            images: torch.Tensor,
            labels: torch.Tensor,
            lr: float,
            step: int,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Take the step.

        Args:
            images: Normalised batch.
            labels: Its labels.
            lr: Learning rate of this step.
            step: Number of steps taken including this one (drives the EMA warmup).

        Returns:
            ``(loss, number of correct top-1 predictions)``, on the device; nothing waits for it.
        """
        if self.compile:
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs are consumed
        loss, correct = self.forward(images, labels)
        loss.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(unwrap_model(self.model), step=step)
        return loss.detach(), correct


@dataclass
class Training:
    """The state a run updates, built by `build_training`; a checkpoint holds all of it.

    Attributes:
        recipe: The recipe.
        device: Where it trains.
        model: The model being trained (not wrapped).
        ema: EMA of its weights (``None`` when ``recipe.ema_decay`` is 0).
        optimizer: Its optimizer.
        generator: Source of the order and augmentations of the train batches, alike in every process.
        step: The training step (through DistributedDataParallel in a distributed run).
        ranks: This process's place in the run.
    """

    recipe: Recipe
    device: torch.device
    model: nn.Module
    ema: Optional[ModelEmaV3]
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: TrainStep
    ranks: Ranks = Ranks()

    @property
    def eval_model(self) -> nn.Module:
        """The model that is evaluated and exported: the EMA model if there is one."""
        return self.ema.module if self.ema is not None else self.model

    def evaluate(self, loader: Loader) -> EvalMetrics:
        """Metrics of `eval_model` over ``loader``, computed as ``validate --precision`` at the run's precision
        computes them (`resnet_zoo.precision.inference_model`), so that ``validate`` reproduces the log."""
        model, mode = self.eval_model, self.eval_model.training
        try:
            network, dtype = inference_model(model, self.recipe.precision, self.device)
            return evaluate(network, loader, dtype)
        finally:
            model.train(mode)

    def loaders(self, train: Split, test: Split, workers: int = 0) -> Tuple[Loader, Loader]:
        """Train and test batches of this process on the training device, normalised with the model's
        pretrained_cfg (``workers`` decode an image folder)."""
        cfg = self.model.pretrained_cfg
        return (
            make_loader(train, self.recipe.batch_size, cfg, self.device, train=True, cutout=self.recipe.cutout,
                        generator=self.generator, ranks=self.ranks, workers=workers, channels_last=True),
            make_loader(test, EVAL_BATCH_SIZE, cfg, self.device, ranks=self.ranks, workers=workers,
                        channels_last=True),
        )

    def state_tensors(self) -> Dict[str, torch.Tensor]:
        """Model, EMA, optimizer and RNG states as checkpoint tensors
        (`resnet_zoo.checkpoint.training_state_tensors`)."""
        return training_state_tensors(self.model, self._ema_model, self.optimizer, self.generator, self.device)

    def load_state_tensors(self, tensors: Dict[str, torch.Tensor]) -> None:
        """Restore what `state_tensors` returned (the recipe and device type must be the same)."""
        load_training_state(tensors, self.model, self._ema_model, self.optimizer, self.generator, self.device)

    @property
    def _ema_model(self) -> Optional[nn.Module]:
        return self.ema.module if self.ema is not None else None


def build_training(
        recipe: Recipe,
        device: torch.device,
        compile: Optional[bool] = None,
        classes: Optional[Sequence[str]] = None,
        ranks: Ranks = Ranks(),
) -> Training:
    """The model, EMA, optimizer, generator and step of ``recipe`` on ``device``, initialised from its seed.

    Args:
        recipe: The recipe.
        device: Where to train; the model is channels_last, in autocast at ``recipe.precision``, and on CUDA
            the step uses fused SGD.
        compile: Compile the step (``None``: on CUDA only).
        classes: Class names of the dataset, recorded in the model's pretrained_cfg (and so in its export);
            required for an image folder.
        ranks: This process's place in the run; with more than one process (in the process group of
            `resnet_zoo.distributed.init_process_group`) the step goes through DistributedDataParallel.

    Raises:
        ZooError: If ``recipe.sync_bn`` is asked for off CUDA.
    """
    cuda = device.type == "cuda"
    if recipe.sync_bn and not cuda:
        raise ZooError("--sync-bn needs CUDA: torch's SyncBatchNorm runs on GPUs only")
    torch.manual_seed(recipe.seed)
    model = create_model_for(recipe.model, recipe.dataset, classes=classes)
    model.to(device, memory_format=torch.channels_last)
    ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True, warmup_power=3 / 4) if recipe.ema_decay else None
    if recipe.sync_bn:  # after the EMA copy, which keeps plain BatchNorm
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = create_optimizer(model, recipe, fused=cuda)
    generator = torch.Generator(device=generator_device(recipe.dataset, device))
    generator.manual_seed(recipe.seed)
    network = model
    if ranks.world_size > 1:
        network = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    step = TrainStep(network, optimizer, ema, recipe.label_smoothing, autocast_dtype(recipe.precision),
                     compile=cuda if compile is None else compile)
    return Training(recipe, device, model, ema, optimizer, generator, step, ranks)


def train_one_epoch(
        training: Training,
        loader: Loader,
        epoch: int,
        progress: Optional[tqdm] = None,
) -> Dict[str, float]:
    """One pass over ``loader``, following the recipe's learning-rate schedule.

    Args:
        training: What to train.
        loader: Training batches (every epoch has ``len(loader)`` steps).
        epoch: Index of the epoch, from 0 (places the steps in the schedule).
        progress: Bar advanced by the images of each step.

    Returns:
        ``train_loss`` (mean over steps and processes), ``lr`` (of the last step), ``train_top1`` (percent, on
        the augmented batches of all processes) and ``img_per_s`` (of all processes).
    """
    steps = len(loader)
    loss_sum = torch.zeros((), device=training.device)
    correct = torch.zeros((), dtype=torch.int64, device=training.device)
    lr = float("nan")
    start = time.perf_counter()
    for i, (images, labels) in enumerate(loader):
        step = epoch * steps + i
        lr = training.recipe.lr_at(step, steps)
        loss, hits = training.step(images, labels, lr, step + 1)
        loss_sum += loss
        correct += hits
        if progress is not None:
            progress.update(loader.batch_size)
    loss_total, correct_total = all_reduce_sum(torch.stack([loss_sum.double(), correct.double()])).tolist()
    seen = steps * loader.batch_size  # global batches
    return dict(train_loss=loss_total / (steps * training.ranks.world_size), lr=lr,
                train_top1=100. * correct_total / seen, img_per_s=seen / (time.perf_counter() - start))


# ---------------------------------------------------------------------------------------------------------------
# a run: checkpoints, log, resume, export


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
    saved = {f.name: f.default for f in fields(Recipe)} | state["recipe"]  # options added since: their defaults
    changed = [f"--{k.replace('_', '-')} {saved[k]} (checkpoint) vs {v} (now)"
               for k, v in asdict(recipe).items() if saved[k] != v]
    if changed:
        raise ZooError(f"--resume: {checkpoint} was written by another recipe: {'; '.join(changed)}")
    if state["device_type"] != device.type:
        raise ZooError(f"--resume: {checkpoint} was written on {state['device_type']}; resume it on "
                       f"{state['device_type']}, not {device.type}")
    return tensors, state


def _check_finite(record: Dict[str, Any], checkpoint: Path) -> None:
    bad = [f"{key} is {record[key]}" for key in ("train_loss", "test_loss") if not math.isfinite(record[key])]
    if bad:
        kept = f"{checkpoint} (epoch {record['epoch'] - 1})" if record["epoch"] > 1 else "none was written"
        raise TrainingDiverged(f"epoch {record['epoch']}: {', '.join(bad)}; training stopped. "
                               f"Last good checkpoint: {kept}")


def _export(training: Training, history: List[Dict[str, Any]], folder: Path, tag: str, command: str) -> Path:
    from .hub import export
    recipe, final = training.recipe, history[-1]
    hardware = "CPU"
    if training.device.type == "cuda":
        hardware = f"{training.ranks.world_size}x {torch.cuda.get_device_name(training.device)}"
    elif training.ranks.world_size > 1:
        hardware = f"{training.ranks.world_size} CPU processes"
    # a new model of the registered kind (plain BatchNorm, float32, on the CPU) with the evaluated weights
    model = create_model_for(recipe.model, recipe.dataset, classes=training.model.pretrained_cfg["label_names"])
    model.load_state_dict(training.eval_model.state_dict())
    return export(
        model, folder, tag=tag, dataset=recipe.dataset,
        metrics=dict(top1=final["test_top1"], top5=final["test_top5"], loss=final["test_loss"]),
        recipe=asdict(recipe), command=command, train_log=folder.parent / TRAIN_LOG_NAME, wall_time_s=final["wall_s"],
        hardware=hardware)


def train(args: argparse.Namespace) -> Path:
    """Run ``resnet-zoo train``: train (or ``--resume``), checkpoint and log every epoch, then export.

    Under ``torchrun`` every process calls it; they train together and rank 0 writes.

    Args:
        args: The parsed options of ``resnet-zoo train``.

    Returns:
        The exported Hub model folder.

    Raises:
        ZooError: For bad options or data, a run folder that holds another run, or a diverged loss
            (`TrainingDiverged`).
    """
    start = time.perf_counter()
    ranks, device = init_process_group(resolve_device(args.device))
    try:
        return _train(args, Recipe.from_args(args, device), ranks, device, start)
    finally:
        destroy_process_group()


def _train(args: argparse.Namespace, recipe: Recipe, ranks: Ranks, device: torch.device, start: float) -> Path:
    ranks.split(recipe.batch_size)
    tag = args.tag or default_tag(recipe.dataset)
    out = args.out or Path("runs") / f"{recipe.model}.{tag}"
    checkpoint, log = out / CHECKPOINT_FILE, out / TRAIN_LOG_NAME
    resumed = _resume(checkpoint, recipe, device) if args.resume else None
    if resumed is None and checkpoint.exists():
        raise ZooError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")

    train_split = load_split(args.data, recipe.dataset, "train", recipe.subset, download=args.download)
    test_split = load_split(args.data, recipe.dataset, "test", recipe.test_subset)
    if test_split.classes != train_split.classes:
        raise ZooError(f"the test split's classes differ from the train split's under {args.data}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    training = build_training(recipe, device, args.compile, classes=train_split.classes, ranks=ranks)
    train_loader, test_loader = training.loaders(train_split, test_split, workers=args.workers)

    history: List[Dict[str, Any]] = []
    if resumed is not None:
        tensors, state = resumed
        training.load_state_tensors(tensors)
        history = state["history"]
    if ranks.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_train_log(log, history)  # drops lines of epochs after the checkpoint
    previous_wall = history[-1]["wall_s"] if history else 0.

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
                save_checkpoint(checkpoint, training.state_tensors(), dict(
                    epoch=epoch + 1, recipe=asdict(recipe), device_type=device.type, history=history))
                append_train_log(log, record)
                progress.write(f"epoch {epoch + 1}: train loss {record['train_loss']:.4f}, test top-1 "
                               f"{record['test_top1']:.2f}%, {record['img_per_s']:,.0f} img/s")
    folder = out / f"{recipe.model}.{tag}"
    if ranks.is_main:
        _export(training, history, folder, tag, command_line(recipe, args.data, out, args.tag))
    barrier()  # the export exists when any process returns
    return folder


def train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``resnet-zoo train`` to ``parser``."""
    d = Recipe()
    add = parser.add_argument
    add("--model", required=True, help="model name, e.g. cifar_resnet56")
    add("--data", type=Path, required=True, metavar="DIR",
        help="folder holding cifar-10-batches-py/, cifar-100-python/ or (imagefolder) train/ and val/")
    add("--dataset", choices=DATASET_NAMES, default=d.dataset, help="sets the number of classes too")
    add("--download", action="store_true", help="fetch a CIFAR dataset with torchvision if missing")
    add("--out", type=Path, metavar="DIR", help="run folder (default: runs/MODEL.TAG)")
    add("--tag", help="pretrained tag of the export (default: rz_cifar10, rz_cifar100 or rz_imagefolder)")
    add("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add("--epochs", type=int, default=d.epochs, metavar="N", help="passes over the train images")
    add("--batch-size", type=int, default=d.batch_size, metavar="N",
        help="images per step, over all processes under torchrun")
    add("--lr", type=float, help=f"peak learning rate (default: {LR_PER_128} x batch size / 128)")
    add("--momentum", type=float, default=d.momentum, help="Nesterov momentum")
    add("--wd", type=float, default=d.wd, help="weight decay (not on BatchNorm and biases)")
    add("--warmup-epochs", type=int, metavar="N",
        help=f"linear learning-rate warmup (default: epochs / 10, at most {MAX_WARMUP_EPOCHS})")
    add("--label-smoothing", type=float, default=d.label_smoothing, help="of the training loss")
    add("--ema-decay", type=float, default=d.ema_decay, help="EMA decay of the weights; 0: no EMA")
    add("--cutout", type=int, default=d.cutout, metavar="PIXELS", help="cutout square side, CIFAR only; 0: off")
    add("--sync-bn", action="store_true", help="BatchNorm statistics over the global batch (torchrun on CUDA)")
    add("--precision", choices=PRECISIONS, default="auto",
        help="auto: bf16 autocast where the device computes bf16 natively (GPU, CPU with AVX512-BF16/AMX), "
             "else fp32")
    add("--seed", type=int, default=d.seed, help="of the initialisation, the order and the augmentations")
    add("--subset", type=int, metavar="N", help="train on the first N train images only (default: all)")
    add("--test-subset", type=int, metavar="N", help="evaluate on the first N test images only (default: all)")
    add("--device", help="e.g. cpu, cuda, cuda:1 (default: cuda if available; under torchrun cuda:LOCAL_RANK)")
    add("--compile", action=argparse.BooleanOptionalAction, default=None,
        help="torch.compile the step, with CUDA graphs on one GPU (default: on with CUDA)")
    add("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
        help="image decoding processes per process, for imagefolder")


def train_command(args: argparse.Namespace) -> int:
    """Run ``resnet-zoo train``; rank 0 prints the exported folder; returns 0."""
    folder = train(args)
    if launched_ranks().is_main:
        print(f"exported {folder}")
    return 0


if __name__ == "__main__":  # torchrun -m resnet_zoo.train ...: the options of `resnet-zoo train`
    from .cli import main
    sys.exit(main(["train", *sys.argv[1:]]))
