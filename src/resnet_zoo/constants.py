"""The names and defaults that the command line shows, held where importing them imports neither torch nor timm
(as ``huggingface_hub.constants`` does for the Hub), so that every ``resnet-zoo COMMAND --help`` answers at once.
The modules that do the work import them from here."""
import os

from .errors import DataError

DATASET_NAMES = ("cifar10", "cifar100", "imagefolder")
"""Every ``--dataset``; `resnet_zoo.datasets.DATASETS` holds the entry of each."""
DEFAULT_DATASET = "cifar10"
"""The dataset of a recipe, an evaluation or a command that names none."""
RECIPE_TAG_PREFIX = "rz_"
"""The tag of weights trained by this project's recipe is this prefix and the dataset's name (`default_tag`)."""

PRECISIONS = ("auto", "bf16", "fp32")
"""Values of ``--precision`` (`resnet_zoo.precision`)."""
TTA = ("flip",)
"""Test-time augmentations `resnet_zoo.evaluation.evaluate` computes beside the plain metrics: ``flip``, the image
and its mirror."""
EVAL_BATCH_SIZE = 1000
"""Images per evaluation batch, in ``validate`` and in training's per-epoch evaluation alike."""
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
"""DataLoader worker processes per training or validation process of an image folder, unless ``--workers`` says
otherwise."""

RUNS_FOLDER = "runs"
"""Where ``resnet-zoo train`` keeps a run without ``--out``: ``runs/MODEL.TAG``."""
LAST_CHECKPOINT = "last-checkpoint"
"""The sub-folder of a model folder that holds the state of its run in progress (`resnet_zoo.run_state`)."""
CHECKPOINT_FILE = "checkpoint.safetensors"
"""A run's checkpoint, in its run folder and in `LAST_CHECKPOINT` (`resnet_zoo.checkpoint`)."""


def default_tag(dataset: str) -> str:
    """Pretrained tag of the weights the recipe trains on ``dataset``: ``rz_`` and its name (``rz_cifar10``).

    Raises:
        DataError: If ``dataset`` is not one of `DATASET_NAMES`.
    """
    if dataset not in DATASET_NAMES:
        raise DataError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_NAMES)}")
    return f"{RECIPE_TAG_PREFIX}{dataset}"
