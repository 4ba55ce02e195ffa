"""The engine of the zoo's training recipe (`resnet_zoo.recipe`): the optimizer, the step, the state a run updates,
and one epoch.

`build_training` makes the `Training` of a recipe and `train_one_epoch` advances it by an epoch;
`resnet_zoo.run.train` runs them for a whole run (checkpoints, log, resume, export).
"""
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from timm.optim import param_groups_weight_decay
from timm.utils import ModelEmaV3, unwrap_model
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .checkpoint import load_training_state, load_weights, training_state_tensors
from .constants import EVAL_BATCH_SIZE
from .datasets import Loader, Split, create_loader, get_dataset
from .distill import Teacher, distillation_loss, load_teacher
from .distributed import Ranks, all_reduce_sum
from .errors import ZooError
from .evaluation import EvalMetrics, evaluate
from .factory import create_model_for
from .precision import autocast_dtype, inference_model, is_channels_last
from .recipe import Recipe


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
    """One optimisation step on a batch: forward and loss (with a teacher's distillation loss), backward, SGD
    update, EMA update.

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
        teacher: The teacher to distil from (`resnet_zoo.distill`), or ``None``.
        distill_weight: Share of the distillation loss, with a teacher.
    """

    def __init__(
            self,
            model: nn.Module,
            optimizer: torch.optim.Optimizer,
            ema: Optional[ModelEmaV3],
            label_smoothing: float = 0.,
            dtype: Optional[torch.dtype] = None,
            compile: bool = False,
            teacher: Optional[Teacher] = None,
            distill_weight: float = 0.,
    ):
        self.model = model
        self.teacher = teacher
        self.distill_weight = distill_weight
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
            taught = self.teacher(images) if self.teacher is not None else None
        loss = self.criterion(logits.float(), labels)
        if taught is not None:
            weight = self.distill_weight
            loss = (1. - weight) * loss + weight * distillation_loss(logits, taught, self.teacher.temperature)
        return loss, (logits.argmax(dim=1) == labels).sum()

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
    def teacher(self) -> Optional[Teacher]:
        """The teacher the step distils from, or ``None``."""
        return self.step.teacher

    @property
    def eval_model(self) -> nn.Module:
        """The model that is evaluated and exported: the EMA model if there is one."""
        return self.ema.module if self.ema is not None else self.model

    def evaluate(self, loader: Loader, precision: Optional[str] = None) -> EvalMetrics:
        """Metrics of `eval_model` over ``loader``, computed as ``validate --precision`` computes them at
        ``precision`` (default: the run's; `resnet_zoo.precision.inference_model`), so that ``validate``
        reproduces the log."""
        model, mode = self.eval_model, self.eval_model.training
        try:
            network, dtype = inference_model(model, precision or self.recipe.precision, self.device)
            return evaluate(network, loader, dtype)
        finally:
            model.train(mode)

    def loaders(self, train: Split, test: Split, workers: int = 0) -> Tuple[Loader, Loader]:
        """Train and test batches of this process on the training device, normalised with the model's
        pretrained_cfg and in its memory format (``workers`` decode an image folder)."""
        recipe, cfg, channels_last = self.recipe, self.model.pretrained_cfg, is_channels_last(self.model)
        return (
            create_loader(recipe.dataset, train, recipe.batch_size, cfg, self.device, train=True,
                          cutout=recipe.cutout, generator=self.generator, ranks=self.ranks, workers=workers,
                          channels_last=channels_last),
            create_loader(recipe.dataset, test, EVAL_BATCH_SIZE, cfg, self.device, ranks=self.ranks,
                          workers=workers, channels_last=channels_last),
        )

    def state_tensors(self) -> Dict[str, torch.Tensor]:
        """Model, EMA, optimizer and RNG states as checkpoint tensors
        (`resnet_zoo.checkpoint.training_state_tensors`)."""
        return training_state_tensors(self.model, self._ema_model, self.optimizer, self.generator, self.device)

    def load_state_tensors(self, tensors: Dict[str, torch.Tensor]) -> None:
        """Restore what `state_tensors` returned (the recipe and device type must be the same)."""
        load_training_state(tensors, self.model, self._ema_model, self.optimizer, self.generator, self.device)

    def load_weights(self, tensors: Dict[str, torch.Tensor], data_seed: int) -> None:
        """Continue from the model and EMA weights among checkpoint tensors (a model folder's run state), with the
        optimizer's momentum at zero and the data generator seeded with ``data_seed``."""
        load_weights(tensors, self.model, self._ema_model)
        self.generator.manual_seed(data_seed)

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
    """The model, EMA, optimizer, generator, teacher and step of ``recipe`` on ``device``, initialised from its
    seed.

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
        ZooError: If ``recipe.sync_bn`` is asked for off CUDA, or the teacher cannot teach the model
            (`resnet_zoo.distill.load_teacher`).
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
    generator = torch.Generator(device=get_dataset(recipe.dataset).generator_device(device))
    generator.manual_seed(recipe.seed)
    teacher = load_teacher(recipe.teacher, model, recipe.distill_temperature, device) if recipe.teacher else None
    network = model
    if ranks.world_size > 1:
        network = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    step = TrainStep(network, optimizer, ema, recipe.label_smoothing, autocast_dtype(recipe.precision),
                     compile=cuda if compile is None else compile, teacher=teacher,
                     distill_weight=recipe.distill_weight or 0.)
    return Training(recipe, device, model, ema, optimizer, generator, step, ranks)


STOP_CHECK_STEPS = 50
"""Steps between the checks of ``train_one_epoch``'s ``stop`` in a distributed run (each check is a collective)."""


def train_one_epoch(
        training: Training,
        loader: Loader,
        epoch: int,
        progress: Optional[tqdm] = None,
        stop: Optional[Callable[[int, int], bool]] = None,
) -> Optional[Dict[str, float]]:
    """One pass over ``loader``, following the recipe's learning-rate schedule.

    Args:
        training: What to train.
        loader: Training batches (every epoch has ``len(loader)`` steps).
        epoch: Index of the epoch, from 0 (places the steps in the schedule).
        progress: Bar advanced by the images of each step.
        stop: Called with (steps done, steps of the epoch) after each step (every `STOP_CHECK_STEPS` steps in a
            distributed run, where any process's ``True`` stops all); ``True`` gives the epoch up.

    Returns:
        ``train_loss`` (mean over steps and processes), ``lr`` (of the last step), ``train_top1`` (percent, on
        the augmented batches of all processes) and ``img_per_s`` (of all processes); ``None`` if ``stop`` gave
        the epoch up (the model has then taken part of its steps).
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
        if stop is not None and _stopped(stop, i + 1, steps, training):
            return None
    loss_total, correct_total = all_reduce_sum(torch.stack([loss_sum.double(), correct.double()])).tolist()
    seen = steps * loader.batch_size  # global batches
    return dict(train_loss=loss_total / (steps * training.ranks.world_size), lr=lr,
                train_top1=100. * correct_total / seen, img_per_s=seen / (time.perf_counter() - start))


def _stopped(stop: Callable[[int, int], bool], done: int, steps: int, training: Training) -> bool:
    """``stop(done, steps)``, agreed by every process of a distributed run every `STOP_CHECK_STEPS` steps."""
    if training.ranks.world_size == 1:
        return stop(done, steps)
    if done % STOP_CHECK_STEPS and done != steps:
        return False
    flag = torch.tensor([float(stop(done, steps))], dtype=torch.float64, device=training.device)
    return all_reduce_sum(flag).item() > 0
