"""Knowledge distillation (``resnet-zoo train --teacher``): the model learns from trained models' predictions as
well as from the labels.

Hinton et al., *Distilling the Knowledge in a Neural Network* (2015). The loss of a step is
``(1 - w) * CE(student, labels) + w * T^2 * KL(teacher_T || student_T)``, where ``_T`` are probabilities softened
by the temperature ``T`` and the ``T^2`` keeps the gradients' scale independent of it. The teacher may be an
ensemble: its probabilities are the mean of its members' softened ones. Its members see the very batch the
student sees (augmented), in eval mode, with their BatchNorms folded (`resnet_zoo.fuse.fuse_bn`) and no gradient.

Why the zoo distils: trained with the same recipe, the CIFAR ResNets of 32, 44 and 56 layers each reach about 95%,
but the mean of their predictions scores almost a point higher (see the training docs), and distillation passes
an ensemble's gain on to one model at no cost at inference.
"""
import hashlib
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ZooError
from .fuse import fuse_bn
from .grow import load_source, source_commit
from .pretrained import weights_name

TEACHER_SEPARATOR = ","
"""Separates the members of an ensemble teacher in ``--teacher``."""
NORMALISATION_KEYS = ("mean", "std", "label_names")
"""Pretrained-cfg keys a teacher shares with its student: it sees the student's batches and predicts its classes."""


def teacher_sources(teacher: str) -> List[str]:
    """The members ``--teacher`` names, in order.

    Raises:
        ZooError: If it names none, or one twice.
    """
    sources = [s.strip() for s in teacher.split(TEACHER_SEPARATOR)]
    if not all(sources):
        raise ZooError(f"--teacher {teacher!r}: name weights separated by commas, "
                       f"e.g. cifar_resnet32.rz_cifar10,cifar_resnet44.rz_cifar10")
    if len(set(sources)) != len(sources):
        raise ZooError(f"--teacher {teacher!r} names the same weights twice")
    return sources


def weights_digest(model: nn.Module) -> str:
    """The first 12 hex digits of the SHA-256 of ``model``'s state dict (keys in order, float32 bytes): what tells
    two versions of the same registered weights apart."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


class Teacher(nn.Module):
    """An ensemble of trained models whose mean softened probabilities the student learns.

    Args:
        members: The models, each in eval mode with its BatchNorms folded.
        names: One line per member (`describe_member`), as a run's state and card record them.
        temperature: The softmax temperature ``T``.
    """

    def __init__(self, members: Sequence[nn.Module], names: Sequence[str], temperature: float):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.names = list(names)
        self.temperature = temperature

    def train(self, mode: bool = True) -> "Teacher":
        """Stay in eval mode: a teacher's BatchNorms are folded and its weights fixed."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The members' mean probabilities at the temperature, float32 ``(B, classes)``."""
        return torch.stack([(m(images).float() / self.temperature).softmax(dim=1) for m in self.members]).mean(dim=0)


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(teacher_probs || softmax(logits / T))``, averaged over the batch."""
    log_probs = (logits.float() / temperature).log_softmax(dim=1)
    return F.kl_div(log_probs, teacher_probs, reduction="batchmean") * temperature ** 2


def describe_member(source: str, model: nn.Module) -> str:
    """One line naming a teacher member: ``cifar_resnet56.rz_cifar10 (SOURCE, commit 5aa3c29972ed, weights
    sha256 1a2b3c4d5e6f)``."""
    cfg = model.pretrained_cfg
    name = weights_name(cfg["architecture"], cfg.get("tag"))
    return f"{name} ({source}, commit {source_commit(model)[:12]}, weights sha256 {weights_digest(model)})"


def load_teacher(teacher: str, student: nn.Module, temperature: float, device: torch.device) -> Teacher:
    """The teacher ``--teacher`` names (`teacher_sources`, each as `resnet_zoo.grow.load_source` reads it) for
    ``student``, on ``device``, channels_last.

    Raises:
        ZooError: If a member has another class count, other classes, or another input normalisation than the
            student (the batches are normalised for the student).
    """
    cfg = student.pretrained_cfg
    members, names = [], []
    for source in teacher_sources(teacher):
        model = load_source(source, "--teacher")
        theirs = model.pretrained_cfg
        pairs = {key: (tuple(theirs.get(key) or ()), tuple(cfg.get(key) or ())) for key in NORMALISATION_KEYS}
        problems = [f"{key} {ours}, the run's {run}" for key, (ours, run) in pairs.items() if ours != run]
        if model.num_classes != student.num_classes:
            problems.insert(0, f"{model.num_classes} classes, the run {student.num_classes}")
        if problems:
            raise ZooError(f"--teacher {source} cannot teach {cfg['architecture']}: it has {'; '.join(problems)}")
        names.append(describe_member(source, model))
        members.append(fuse_bn(model.eval()).requires_grad_(False).to(device, memory_format=torch.channels_last))
    return Teacher(members, names, temperature)
