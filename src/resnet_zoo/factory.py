"""Creating and loading the zoo's models for a task: the device, a model shaped for a dataset, and a model with
the weights to evaluate (pretrained, a Hub folder, a weights file or a training checkpoint), each name checked by
`resnet_zoo.resnet.check_model_name`. ``validate``, ``predict``, ``train``, ``export`` and ``convert`` all create their
models here.
"""
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn as nn

from .checkpoint import is_checkpoint, read_eval_weights, read_state
from .datasets import class_difference, get_dataset
from .errors import WeightsError, ZooError
from .hub import CONFIG_NAME, read_config
from .resnet import check_model_name
from .weights import check_state_dict


def create_model_for(
        name: str,
        dataset: Optional[str],
        classes: Optional[Sequence[str]] = None,
        file: Optional[Union[str, Path]] = None,
) -> nn.Module:
    """``timm.create_model(name)`` for ``dataset``: its classes (and for CIFAR its mean/std) in ``pretrained_cfg``.

    Args:
        name: A resnet_zoo model name, e.g. ``"cifar_resnet56"``.
        dataset: One of `resnet_zoo.datasets.DATASETS`, or ``None`` to keep the model's registered cfg.
        classes: Class names for ``pretrained_cfg["label_names"]`` (``None`` keeps the registered ones); required
            for an image folder.
        file: Weights to load through timm (a safetensors state dict), or ``None`` for a new model.

    Raises:
        ZooError: If ``name`` is not a resnet_zoo model.
    """
    check_model_name(name)
    overlay = get_dataset(dataset).model_overlay(classes) if dataset is not None else {}
    if file is not None:
        overlay["file"] = str(file)
    return timm.create_model(name, pretrained=file is not None, num_classes=overlay.get("num_classes"),
                             pretrained_cfg_overlay=overlay)


def load_hub_folder(name: str, folder: Path) -> nn.Module:
    """The model of a Hub model folder (``config.json`` + weights), loaded through timm's ``local-dir:``.

    Raises:
        WeightsError: If ``folder`` has no ``config.json``, one that `resnet_zoo.hub.read_config` refuses, or
            holds another architecture than ``name``.
    """
    if not (folder / CONFIG_NAME).is_file():
        raise WeightsError(f"{folder} is not a Hub model folder: it has no {CONFIG_NAME}")
    read_config(folder)
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    architecture = model.pretrained_cfg.get("architecture")
    if architecture != name:
        raise WeightsError(f"{folder} holds a {architecture}, not a {name}")
    return model


def load_model(name: str, dataset: Optional[str], pretrained: bool = False,
               checkpoint: Optional[Union[str, Path]] = None,
               classes: Optional[Sequence[str]] = None) -> nn.Module:
    """``name`` with the weights to evaluate: the registered pretrained ones or those of ``checkpoint``.

    ``validate`` and ``predict`` load their ``--pretrained`` / ``--checkpoint`` through this one function.

    Args:
        name: A resnet_zoo model name.
        dataset: Dataset the model is evaluated on; its number of classes must match the weights'. ``None``
            (``predict``) keeps the classes of the weights: a Hub folder's own, else the registered ones.
        pretrained: Load the registered pretrained weights (from the Hugging Face Hub or its cache).
        checkpoint: A Hub model folder, a safetensors weights file or a training checkpoint (its EMA weights
            when it has them).
        classes: The dataset's class names; required for an image folder.

    Returns:
        The model on the CPU, in eval mode.

    Raises:
        WeightsError: If the weights are missing, not a safetensors file or Hub folder, or do not fit ``name``.
        ZooError: If ``name`` is not a resnet_zoo model, or the model's classes do not match ``dataset`` (their
            number) or ``classes`` (their names, where the weights record theirs).
    """
    if pretrained == (checkpoint is not None):
        raise ZooError("give exactly one of --pretrained and --checkpoint")
    check_model_name(name)
    if checkpoint is not None and not Path(checkpoint).exists():
        raise WeightsError(f"{checkpoint}: no such file or folder")
    source = "pretrained weights" if pretrained else str(checkpoint)
    trained_on: Optional[Sequence[str]] = None  # the class names the weights record, where they record them
    try:
        if pretrained:
            model = timm.create_model(name, pretrained=True)
        elif Path(checkpoint).is_dir():
            model = load_hub_folder(name, Path(checkpoint))
        elif is_checkpoint(checkpoint):
            trained_on = read_state(checkpoint).get("classes")
            model = load_checked(create_model_for(name, dataset, classes), read_eval_weights(checkpoint),
                                 source=str(checkpoint), architecture=name)
        else:
            model = create_model_for(name, dataset, classes, file=checkpoint)
    except (RuntimeError, OSError) as e:
        raise WeightsError(f"cannot load {source} into {name}: {e}") from e
    if dataset is not None:
        spec = get_dataset(dataset)
        num_classes = spec.model_overlay(classes)["num_classes"]
        if model.num_classes != num_classes:
            raise ZooError(f"{name} with {source} has {model.num_classes} classes, {spec.title} has {num_classes}")
    if trained_on is None and (pretrained or Path(checkpoint).is_dir()):
        trained_on = model.pretrained_cfg.get("label_names")
    difference = class_difference(classes, trained_on, "the weights'") if classes and trained_on else None
    if difference:
        raise ZooError(f"the data's classes are not those {name} with {source} was trained on: {difference}")
    return model.eval()


def infer_model_args(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """``num_classes``, ``in_chans`` and ``shortcut`` of the ResNet a resnet_zoo-named state dict is for.

    ``num_classes`` is the classifier's output count (0 without ``fc``), ``in_chans`` the stem's input
    channels, and the shortcut ``"B"`` when any block has a ``downsample`` projection, else ``"A"``.
    """
    args: Dict[str, Any] = {
        "num_classes": state_dict["fc.weight"].shape[0] if "fc.weight" in state_dict else 0,
        "shortcut": "B" if any(".downsample." in k for k in state_dict) else "A",
    }
    if "conv1.weight" in state_dict and state_dict["conv1.weight"].dim() == 4:
        args["in_chans"] = state_dict["conv1.weight"].shape[1]
    return args


def build_from_state_dict(model_name: str, state_dict: Mapping[str, torch.Tensor], *, source: str,
                          pretrained_cfg_overlay: Optional[Mapping[str, Any]] = None) -> torch.nn.Module:
    """A resnet_zoo model ``model_name`` shaped like ``state_dict`` (see `infer_model_args`), loaded from it.

    Args:
        model_name: A resnet_zoo model name such as ``"cifar_resnet56"``.
        state_dict: Weights with resnet_zoo's parameter names.
        source: What the weights are (a path), named in errors.
        pretrained_cfg_overlay: ``pretrained_cfg`` entries of the dataset the weights are for
            (`resnet_zoo.datasets.DatasetSpec.model_overlay`); its ``num_classes`` must be the weights'.

    Returns:
        The model (in eval mode) made by ``timm.create_model``, holding the weights.

    Raises:
        ZooError: If ``model_name`` is not a resnet_zoo model (see `check_model_name`).
        WeightsError: If the weights do not fit it or the overlay's classes.
    """
    check_model_name(model_name)
    args, overlay = infer_model_args(state_dict), dict(pretrained_cfg_overlay or {})
    if overlay.get("num_classes", args["num_classes"]) != args["num_classes"]:
        raise WeightsError(f"{source} has {args['num_classes']} classes, its dataset {overlay['num_classes']}")
    model = timm.create_model(model_name, **args, pretrained_cfg_overlay=overlay or None)
    return load_checked(model, state_dict, source=source, architecture=model_name).eval()


def build_for_export(model_name: str, path: Union[str, Path],
                     dataset: Optional[str]) -> Tuple[torch.nn.Module, Optional[str]]:
    """The model ``resnet-zoo export`` writes from ``path``, and the dataset its card names.

    A training checkpoint gives its EMA weights (`resnet_zoo.checkpoint.read_eval_weights`) for the dataset and
    class names its run recorded, their normalisation and names in ``pretrained_cfg`` as the run's own export has
    them; ``dataset`` is then that one or ``None``. A state dict keeps the model's registered cfg.

    Raises:
        ZooError: If ``dataset`` is not the dataset of the checkpoint's run.
        WeightsError: If the weights do not fit ``model_name``.
    """
    weights = read_eval_weights(path)
    state = read_state(path) if is_checkpoint(path) else {}
    trained_on = state.get("recipe", {}).get("dataset")
    if trained_on is None:
        return build_from_state_dict(model_name, weights, source=str(path)), dataset
    if dataset not in (None, trained_on):
        raise ZooError(f"--dataset {dataset}: {path} is a checkpoint of a run on {trained_on}")
    overlay = get_dataset(trained_on).model_overlay(state.get("classes"))
    return build_from_state_dict(model_name, weights, source=str(path), pretrained_cfg_overlay=overlay), trained_on


def load_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str,
                 architecture: str) -> nn.Module:
    """``model`` with ``state_dict`` loaded strictly, once `resnet_zoo.weights.check_state_dict` has found every
    key and shape to fit (so that weights that do not fit are one short `WeightsError`, not torch's listing).

    Raises:
        WeightsError: Naming ``source``, ``architecture`` and the keys that do not fit.
    """
    check_state_dict({k: tuple(v.shape) for k, v in state_dict.items()},
                     {k: tuple(v.shape) for k, v in model.state_dict().items()},
                     source=source, architecture=architecture)
    model.load_state_dict(state_dict, strict=True)
    return model
