"""The zoo's training recipe: `Recipe`, everything that decides what a training run computes, and the defaults
of its learning rate and warmup.

The recipe (the defaults of `Recipe`), a strong setting for CIFAR ResNet-20 … 110:

* 200 epochs of SGD with Nesterov momentum 0.9 at batch 512; peak learning rate 0.1 per 128 images (0.4),
  reached by a linear warmup over 5 epochs, then cosine decay to 0; updated every step.
* Weight decay 5e-4 on convolution and linear weights only, none on BatchNorm parameters and biases.
* Label smoothing 0.1.
* An EMA of the weights (decay 0.999, warmed up as timm's ``ModelEmaV3`` with power 3/4, so short runs
  follow the model closely); the EMA model is what each epoch evaluates and what is exported.
* Augmentation on the device: random crop of the image zero-padded by 4 pixels, horizontal flip; cutout off
  (``cutout=16`` is the usual CIFAR-10 setting).
* Optionally knowledge distillation from trained models (``teacher``, off by default; `resnet_zoo.distill`): a
  weight of 0.9 on the distillation loss at temperature 2.
* channels_last, and bf16 autocast where it is sure to be faster (``--precision auto``: a GPU, or a CPU with
  AMX; float32 elsewhere, see `resnet_zoo.precision`). On CUDA also forward + loss compiled by
  ``torch.compile`` with CUDA graphs (forward and backward replay as graphs) and fused SGD.

`resnet_zoo.engine` trains by it. The module imports neither torch nor timm (creating a `Recipe` checks its model
and dataset, which does), so that ``resnet-zoo train --help`` shows the defaults at once.
"""
import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

from .cifar_constants import IMAGE_SIZE
from .constants import DEFAULT_DATASET
from .errors import check_options

LR_PER_128 = 0.1
"""Peak learning rate per 128 images of batch; `default_lr` scales it linearly with the batch size."""

DISTILL_WEIGHT = 0.9
"""Default ``--distill-weight`` of a run with a teacher: the share of the distillation loss (Hinton et al. 2015)."""
DISTILL_TEMPERATURE = 2.0
"""Default ``--distill-temperature`` of a run with a teacher: lower than Hinton et al.'s usual 4, as teachers
trained with label smoothing have compressed logits, whose mean probabilities at 4 are nearly uniform."""

MAX_WARMUP_EPOCHS = 5
"""Warmup of a long run; a run of fewer than ``10 x MAX_WARMUP_EPOCHS`` epochs warms up for a tenth of them."""


def default_lr(batch_size: int) -> float:
    """The default ``--lr`` of a batch of ``batch_size`` images: `LR_PER_128` per 128 images."""
    return LR_PER_128 * batch_size / 128


def default_warmup_epochs(epochs: int) -> int:
    """The default ``--warmup-epochs`` of an ``epochs``-epoch run: a tenth of it, at most `MAX_WARMUP_EPOCHS`."""
    return min(MAX_WARMUP_EPOCHS, epochs // 10)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a training run computes (its options minus where and how fast it runs).

    Attributes:
        model: Model name in timm's registry.
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagefolder"``.
        epochs: Passes over the train images.
        batch_size: Images per step, over all processes of a distributed run.
        lr: Peak learning rate (``None``: `default_lr` of ``batch_size``).
        momentum: Nesterov momentum.
        wd: Weight decay of convolution and linear weights.
        warmup_epochs: Epochs of linear learning-rate warmup before the cosine decay (``None``:
            `default_warmup_epochs`).
        label_smoothing: Label smoothing of the training loss.
        ema_decay: Decay of the weights' EMA; 0 keeps no EMA.
        cutout: Side of the cutout square; 0 turns cutout off (CIFAR only).
        teacher: Weights to distil from, comma-separated (an ensemble; `resnet_zoo.distill`), or ``None``.
        distill_weight: Share of the distillation loss (``None``: `DISTILL_WEIGHT` with a teacher).
        distill_temperature: Softmax temperature of the distillation (``None``: `DISTILL_TEMPERATURE` with a
            teacher).
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
    dataset: str = DEFAULT_DATASET
    epochs: int = 200
    batch_size: int = 512
    lr: Optional[float] = None
    momentum: float = 0.9
    wd: float = 5e-4
    warmup_epochs: Optional[int] = None
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    cutout: int = 0
    teacher: Optional[str] = None
    distill_weight: Optional[float] = None
    distill_temperature: Optional[float] = None
    sync_bn: bool = False
    precision: str = "fp32"
    seed: int = 0
    subset: Optional[int] = None
    test_subset: Optional[int] = None

    def __post_init__(self):
        from .datasets import get_dataset  # torch and timm: imported by a recipe, not by its defaults
        from .resnet import check_model_name

        check_model_name(self.model)
        dataset = get_dataset(self.dataset)
        if self.lr is None:
            object.__setattr__(self, "lr", default_lr(self.batch_size))
        if self.warmup_epochs is None:
            object.__setattr__(self, "warmup_epochs", default_warmup_epochs(self.epochs))
        distilling = self.teacher is not None
        check_options((getattr(self, k) is None, f"--{k.replace('_', '-')} needs --teacher")
                      for k in ("distill_weight", "distill_temperature") if not distilling)
        if distilling:
            from .distill import TEACHER_SEPARATOR, teacher_sources

            object.__setattr__(self, "teacher", TEACHER_SEPARATOR.join(teacher_sources(self.teacher)))
            for key, default in (("distill_weight", DISTILL_WEIGHT), ("distill_temperature", DISTILL_TEMPERATURE)):
                if getattr(self, key) is None:
                    object.__setattr__(self, key, default)
        values = dict(lr=self.lr, momentum=self.momentum, wd=self.wd, label_smoothing=self.label_smoothing,
                      ema_decay=self.ema_decay, distill_weight=self.distill_weight or 0.,
                      distill_temperature=self.distill_temperature or 1.)
        check_options((math.isfinite(v), f"--{k.replace('_', '-')} must be a finite number, got {v}")
                      for k, v in values.items())
        check_options([
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.lr > 0, "--lr must be positive"),
            (0 <= self.momentum < 1, "--momentum must lie in [0, 1)"),
            (self.wd >= 0, "--wd must not be negative"),
            (0 <= self.warmup_epochs < self.epochs, "--warmup-epochs must lie in [0, --epochs)"),
            (0 <= self.label_smoothing < 1, "--label-smoothing must lie in [0, 1)"),
            (0 <= self.ema_decay < 1, "--ema-decay must lie in [0, 1) (0: no EMA)"),
            (self.cutout >= 0, "--cutout must not be negative"),
            (not distilling or 0 < self.distill_weight <= 1, "--distill-weight must lie in (0, 1]"),
            (not distilling or self.distill_temperature > 0, "--distill-temperature must be positive"),
            (self.cutout <= IMAGE_SIZE, f"--cutout must be at most {IMAGE_SIZE}, the side of a CIFAR image"),
            (self.precision in ("bf16", "fp32"), "--precision must be bf16 or fp32 (auto is resolved before)"),
            (not self.cutout or dataset.supports_cutout, "--cutout is for CIFAR, not an image folder"),
            (self.subset is None or self.subset >= self.batch_size,
             "--subset must hold at least one batch (--batch-size images)"),
            (self.test_subset is None or self.test_subset >= 1, "--test-subset must be at least 1"),
        ])

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based): linear warmup, then cosine decay to 0."""
        warmup = self.warmup_epochs * steps_per_epoch
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / (self.epochs * steps_per_epoch - warmup)
        return self.lr * 0.5 * (1. + math.cos(math.pi * progress))


def recipe_defaults() -> Dict[str, Any]:
    """The default of each `Recipe` field (``lr`` and ``warmup_epochs``: ``None``), read without creating a recipe,
    which imports torch and timm to check its model."""
    return {f.name: f.default for f in fields(Recipe)}
