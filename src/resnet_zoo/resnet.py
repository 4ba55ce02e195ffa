"""ResNet for both families, and its timm registrations.

* ImageNet-style ``zoo_resnet18/34/50/101/152``: torchvision's layout (7x7 stem, max-pool, four stages,
  stride on the 3x3 of the Bottleneck), with torchvision's parameter names.
* CIFAR ``cifar_resnet20/32/44/56/110/1202`` (He et al. 2016, §4.2): 3x3 stem, three stages of ``n``
  BasicBlocks at 16/32/64 channels, shortcut ``"B"`` (1x1 conv + BN) or ``"A"`` (zero padding).

Both are the same `ResNet` class built from `resnet_zoo.blocks`.
"""
import inspect
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import SelectAdaptivePool2d
from timm.models import (
    DefaultCfg, PretrainedCfg, build_model_with_cfg, checkpoint_seq, generate_default_cfgs, get_arch_name,
    get_arch_pretrained_cfgs, is_model, model_entrypoint, register_model, resolve_pretrained_cfg, split_model_name_tag,
)
from timm.models._features import feature_take_indices  # not exported; timm's own models import it from here

from .blocks import BasicBlock, Block, Bottleneck, DeviceLike, check_input, make_stage
from .errors import WeightsError, ZooError
from .pretrained import TAGS, cifar_cfg, hub_id, imagenet_cfg, tag_model_args, weights_name
from .weights import check_pretrained, finish_pretrained_cfg, pretrained_overlay

__all__ = ["ResNet"]

STEMS = ("imagenet", "cifar")
"""Stem types of `ResNet`: 7x7/2 conv + max-pool (ImageNet) or 3x3/1 conv (CIFAR)."""


class ResNet(nn.Module):
    """ResNet with a torchvision-compatible state dict; it keeps its ``stem`` and ``shortcut`` as attributes.

    The arguments it shares with timm's ``ResNet`` have timm's names, and the first four timm's positions
    (``ResNet(BasicBlock, [2, 2, 2, 2], 10)`` has 10 classes); the others are keyword-only.

    Args:
        block: Residual block class, `BasicBlock` or `Bottleneck`.
        layers: Number of blocks in each stage (3 or 4 stages).
        num_classes: Classifier outputs; 0 removes the classifier.
        in_chans: Input image channels.
        global_pool: Global pooling type (``"avg"``, ``"max"``, ``"avgmax"``, ``""`` for none, …).
        channels: ``planes`` of each stage; stage ``i`` outputs ``channels[i] * block.expansion`` channels.
        stem: ``"imagenet"`` (7x7/2 conv + 3x3/2 max-pool, 64 channels) or ``"cifar"`` (3x3/1 conv to
            ``channels[0]``, no pooling).
        shortcut: ``"B"`` (1x1 conv + BN projection) or ``"A"`` (parameter-free zero padding), used where a
            block changes the shape of its input.
        drop_rate: Dropout before the classifier.
        drop_path_rate: Stochastic depth rate, increasing linearly to this value at the last block.
        zero_init_last: Zero the last BN scale of every residual branch at initialisation.
        device: Device of the parameters.
        dtype: Dtype of the parameters.

    Raises:
        ValueError: For an unknown ``stem`` or ``shortcut``, or a number of stages other than 3 or 4.
    """

    def __init__(
            self,
            block: Block,
            layers: Sequence[int],
            num_classes: int = 1000,
            in_chans: int = 3,
            *,
            global_pool: str = "avg",
            channels: Sequence[int] = (64, 128, 256, 512),
            stem: str = "imagenet",
            shortcut: str = "B",
            drop_rate: float = 0.,
            drop_path_rate: float = 0.,
            zero_init_last: bool = True,
            device: DeviceLike = None,
            dtype: Optional[torch.dtype] = None,
    ):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; valid: {', '.join(map(repr, STEMS))}")
        if len(layers) not in (3, 4) or len(channels) != len(layers):
            raise ValueError(f"need 3 or 4 stages with one channel count each, got layers={layers}, "
                             f"channels={channels}")
        dd = dict(device=device, dtype=dtype)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.stem = stem
        self.shortcut = shortcut
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        # stem
        if stem == "imagenet":
            stem_chs, stem_stride = 64, 2
            self.conv1 = nn.Conv2d(in_chans, stem_chs, 7, stride=2, padding=3, bias=False, **dd)
        else:
            stem_chs, stem_stride = channels[0], 1
            self.conv1 = nn.Conv2d(in_chans, stem_chs, 3, stride=1, padding=1, bias=False, **dd)
        self.bn1 = nn.BatchNorm2d(stem_chs, **dd)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        self.feature_info = [dict(num_chs=stem_chs, reduction=stem_stride, module="act1")]

        # stages: layer1 keeps the resolution, each later one halves it
        total = sum(layers)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        in_chs, net_stride, first = stem_chs, stem_stride * (2 if stem == "imagenet" else 1), 0
        self.stage_names: Tuple[str, ...] = tuple(f"layer{i + 1}" for i in range(len(layers)))
        for i, (name, depth, planes) in enumerate(zip(self.stage_names, layers, channels)):
            stride = 1 if i == 0 else 2
            net_stride *= stride
            stage = make_stage(block, in_chs, planes, depth, stride, shortcut, dpr[first:first + depth], **dd)
            self.add_module(name, stage)
            in_chs, first = planes * block.expansion, first + depth
            self.feature_info.append(dict(num_chs=in_chs, reduction=net_stride, module=name))
        if len(layers) == 3:
            self.layer4 = None  # a constant None keeps forward() scriptable for both families

        # head
        self.num_features = self.head_hidden_size = in_chs
        self.global_pool, self.fc = self._make_head(global_pool, **dd)
        self.init_weights(zero_init_last)

    def _make_head(
            self,
            global_pool: str,
            device: DeviceLike = None,
            dtype: Optional[torch.dtype] = None,
    ) -> Tuple[SelectAdaptivePool2d, nn.Module]:
        pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))  # "": keep NCHW
        in_features = self.num_features * pool.feat_mult()
        self.head_hidden_size = in_features
        fc = nn.Linear(in_features, self.num_classes, device=device, dtype=dtype) if self.num_classes > 0 \
            else nn.Identity()
        return pool, fc

    @torch.jit.ignore
    def init_weights(self, zero_init_last: bool = True) -> None:
        """Kaiming-normal (fan-out) convolutions; optionally zero the last BN scale of each residual branch."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_last:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, str]:
        """Regexes that group parameters into the stem and the stages (``coarse``) or blocks."""
        return dict(stem=r"^conv1|bn1", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the activations of each block in the backward pass instead of storing them."""
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self, name_only: bool = False) -> Union[str, nn.Module]:
        """The classifier module (or its name)."""
        return "fc" if name_only else self.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """Replace the classifier by a new one with ``num_classes`` outputs (0: none).

        Args:
            num_classes: Outputs of the new classifier.
            global_pool: New pooling type; ``None`` keeps the current one.
        """
        ref = next(self.parameters())
        self.num_classes = num_classes
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        self.global_pool, self.fc = self._make_head(global_pool, device=ref.device, dtype=ref.dtype)
        self.global_pool.train(self.training)
        self.fc.train(self.training)

    def _stages(self) -> List[nn.Module]:
        return [getattr(self, name) for name in self.stage_names]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and all stages: unpooled features ``(N, num_features, H', W')``.

        Raises:
            ValueError: If ``x`` is not a batch of ``in_chans``-channel images.
        """
        check_input(x, self.in_chans)
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self._stages(), x, flatten=True)
        else:
            x = self.layer1(x)
            x = self.layer2(x)
            x = self.layer3(x)
            if self.layer4 is not None:
                x = self.layer4(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pooling, dropout and (unless ``pre_logits``) the classifier."""
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for a batch of images ``(N, in_chans, H, W)``."""
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = "NCHW",
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Forward that also returns the features of the stem and of each stage (``feature_info`` order).

        Args:
            x: Input images.
            indices: Take the last ``n`` features if int, all if ``None``, or those at the given indices.
            norm: Nothing to apply: a ResNet has no norm after its last stage (kept for timm's API).
            stop_early: Stop after the last requested feature.
            output_fmt: Only ``"NCHW"``.
            intermediates_only: Return only the intermediate features.

        Returns:
            ``(final features, intermediates)``, or only the intermediates.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        check_input(x, self.in_chans)
        take_indices, max_index = feature_take_indices(len(self.feature_info), indices)
        intermediates = []
        x = self.act1(self.bn1(self.conv1(x)))
        if 0 in take_indices:
            intermediates.append(x)
        x = self.maxpool(x)
        stages = self._stages()[:max_index] if stop_early else self._stages()
        for i, stage in enumerate(stages, start=1):
            x = checkpoint_seq(stage, x) if self.grad_checkpointing and not torch.jit.is_scripting() else stage(x)
            if i in take_indices:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
            self,
            indices: Union[int, List[int]] = 1,
            prune_norm: bool = False,
            prune_head: bool = True,
    ) -> List[int]:
        """Drop the stages (and, if ``prune_head``, the head) not needed for the features at ``indices``.

        ``prune_norm`` has nothing to act on: a ResNet has no norm after its last stage (as timm's own ResNet,
        which ``features_only=True, feature_cls="getter"`` prunes with ``prune_norm=True``).
        """
        take_indices, max_index = feature_take_indices(len(self.feature_info), indices)
        for name in self.stage_names[max_index:]:
            setattr(self, name, nn.Sequential())  # empty, so forward and checkpoint_seq still iterate it
        if max_index == 0:
            self.maxpool = nn.Identity()  # the stem tap is taken before the pooling
        if max_index < len(self.stage_names):
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or max_index < len(self.stage_names):
            self.reset_classifier(0, "")
        return take_indices


# ---------------------------------------------------------------------------------------------------------------
# timm registrations

CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}
"""CIFAR ResNet depth -> BasicBlocks per stage (depth = 6n + 2)."""

IMAGENET_LAYOUTS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
"""ImageNet ResNet depth -> (block, blocks per stage), as torchvision."""

CIFAR_MODELS = tuple(f"cifar_resnet{depth}" for depth in CIFAR_DEPTHS)
"""The CIFAR family, by the names it is registered under in timm."""
IMAGENET_MODELS = tuple(f"zoo_resnet{depth}" for depth in IMAGENET_LAYOUTS)
"""The ImageNet family, by the names it is registered under in timm."""
MODELS = CIFAR_MODELS + IMAGENET_MODELS
"""The zoo's models: every check and test of a model name reads this registry (`is_zoo_model`,
`check_model_name`)."""

def architecture_options(model_args: Mapping[str, Any]) -> Dict[str, Any]:
    """The arguments of a ``config.json``'s ``model_args`` that make its model differ from the registered
    architecture (``{"shortcut": "A"}``): neither its shape (``num_classes``, ``in_chans``) nor `ResNet`'s defaults."""
    defaults = inspect.signature(ResNet).parameters
    return {k: v for k, v in model_args.items()
            if k not in ("num_classes", "in_chans") and (k not in defaults or defaults[k].default != v)}


def is_zoo_model(name: str) -> bool:
    """Whether ``name`` (with or without a ``.tag``) is one of the zoo's `MODELS`."""
    return get_arch_name(name) in MODELS


def check_model_name(name: str) -> None:
    """Raise `ZooError`, naming the zoo's models by family, unless ``name`` is one of them (see `is_zoo_model`)."""
    if not is_zoo_model(name):
        raise ZooError(f"{name!r} is not a resnet-zoo model; the CIFAR ones: {', '.join(CIFAR_MODELS)}; "
                       f"the ImageNet ones: {', '.join(IMAGENET_MODELS)}")


PRETRAINED = (
    "cifar_resnet20.rz_cifar10",
    "cifar_resnet20.ak_cifar10",
    "cifar_resnet32.rz_cifar10",
    "cifar_resnet32.ak_cifar10",
    "cifar_resnet44.rz_cifar10",
    "cifar_resnet44.ak_cifar10",
    "cifar_resnet56.rz_cifar10",
    "cifar_resnet56.ak_cifar10",
    "cifar_resnet110.rz_cifar10",
)
"""The registered weights ``<model>.<tag>``: exactly the folders of the repository's ``hub/``, each published as
the Hub repo ``resnet-zoo/<model>.<tag>``. A model's default (what ``pretrained=True`` without a tag loads) is
its first weights whose tag needs no architecture option; a model without such weights has no default."""


def _has_weights(cfg: PretrainedCfg) -> bool:
    return bool(cfg.has_weights or cfg.state_dict is not None)


def _describe_weights(name: str) -> str:
    """``name`` (``model.tag``) with the architecture options its weights need: ``… (shortcut='A')``."""
    args = tag_model_args(split_model_name_tag(name)[1])
    return f"{name} ({', '.join(f'{k}={v!r}' for k, v in args.items())})" if args else name


def _no_weights_error(variant: str, cfg: PretrainedCfg) -> WeightsError:
    """The error of ``pretrained=True`` without weights; it says how to load those that exist: by their tagged
    name, which builds the architecture they need (options given alongside the plain name do not select them)."""
    which = weights_name(variant, cfg.tag) if cfg.tag else f"{variant} with its default architecture"
    names = list_pretrained_tags(variant)
    exist = ", ".join(map(_describe_weights, names)) or "none"
    how = (f"; load them by the tagged name, which builds the architecture they need: "
           f"timm.create_model('{names[0]}', pretrained=True), --model {names[0]}, or "
           f"torch.hub.load(..., '{variant}', tag='{names[0].partition('.')[2]}', pretrained=True)") if names else ""
    return WeightsError(f"no pretrained weights for {which}; weights that exist: {exist}{how} (or load your own: "
                        f"pretrained_cfg_overlay=dict(file=...))")


def _create(variant: str, pretrained: bool, model_args: Dict[str, Any], **kwargs: Any) -> ResNet:
    """Build ``variant`` through timm; ``pretrained`` without any weight source is an error, not a fallback.

    A tag builds the architecture its weights need (`resnet_zoo.pretrained.TAGS`), whether or not they are
    loaded; explicit ``kwargs`` still win. Pretrained weights load through timm's ``load_pretrained``:
    `resnet_zoo.weights.pretrained_overlay` points it at a checked local copy (of the caller's own source, else
    ``$RESNET_ZOO_WEIGHTS/<variant>.<tag>/``, else the Hub) and `resnet_zoo.weights.check_pretrained` reports
    weights that do not fit as one `WeightsError`.
    """
    cfg = resolve_pretrained_cfg(variant, kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay"))
    model_args = dict(model_args, **tag_model_args(cfg.tag))
    if pretrained:
        if not _has_weights(cfg):
            raise _no_weights_error(variant, cfg)
        kwargs["pretrained_cfg_overlay"] = pretrained_overlay(
            variant, cfg, kwargs.get("pretrained_cfg_overlay"), kwargs.get("cache_dir"))
    stem_and_stages = tuple(range(len(model_args["layers"]) + 1))
    feature_cfg = {"out_indices": stem_and_stages, **(kwargs.pop("feature_cfg", None) or {})}  # the caller's wins
    model = build_model_with_cfg(
        ResNet, variant, pretrained, pretrained_filter_fn=check_pretrained, feature_cfg=feature_cfg,
        **dict(model_args, **kwargs))
    if pretrained:
        finish_pretrained_cfg(model, cfg)
    return model


def list_pretrained_tags(variant: str) -> List[str]:
    """Names ``variant.tag`` of the registered weights of ``variant``, its default first (timm's order)."""
    return [name for name, cfg in get_arch_pretrained_cfgs(variant).items() if cfg.has_weights]


def _register(fn: Callable[..., ResNet]) -> Callable[..., ResNet]:
    """``register_model`` that refuses to replace a model timm (or anyone) already registered.

    Raises:
        ZooError: If timm already has a model named like ``fn``, naming the module that registered it.
    """
    if is_model(fn.__name__):
        raise ZooError(f"model name {fn.__name__!r} is already registered in timm by "
                       f"{model_entrypoint(fn.__name__).__module__}; resnet_zoo will not replace it")
    return register_model(fn)


def _cifar_args(depth: int) -> Dict[str, Any]:
    n = CIFAR_DEPTHS[depth]
    return dict(block=BasicBlock, layers=(n, n, n), channels=(16, 32, 64), stem="cifar")  # classes: the cfg's


def _imagenet_args(depth: int) -> Dict[str, Any]:
    block, layers = IMAGENET_LAYOUTS[depth]
    return dict(block=block, layers=layers)


def _weights_cfg(model: str, tag: str, family_cfg: Callable[..., Dict[str, Any]]) -> PretrainedCfg:
    """The pretrained cfg of the weights ``model.tag`` on the Hub; untagged: the family's, without weights."""
    return PretrainedCfg(**family_cfg(**TAGS[tag].cfg, hf_hub_id=hub_id(model, tag)) if tag else family_cfg())


def _registry_cfgs(families: Mapping[str, Callable[..., Dict[str, Any]]]) -> Dict[str, DefaultCfg]:
    """timm's registry entries (``generate_default_cfgs``) of every model name -> family cfg: its `PRETRAINED`
    weights, the default marked with timm's ``*`` (see `PRETRAINED`), or an untagged default cfg without weights
    where no weights fit the default architecture.

    Raises:
        WeightsError: If `PRETRAINED` names weights of another model or an unknown tag.
    """
    named = [split_model_name_tag(name) for name in PRETRAINED]
    unknown = [name for name, (model, tag) in zip(PRETRAINED, named) if model not in families or tag not in TAGS]
    if unknown:
        raise WeightsError(f"PRETRAINED names weights of unknown models or tags: {', '.join(unknown)}")
    cfgs = {}
    for model, family_cfg in families.items():
        tags = [tag for name, tag in named if name == model]
        default = next((tag for tag in tags if not TAGS[tag].model_args), "")
        for tag in tags if default else [*tags, ""]:
            cfgs[weights_name(model, tag) + ("*" if tag == default else "")] = _weights_cfg(model, tag, family_cfg)
    return generate_default_cfgs(cfgs)


default_cfgs = _registry_cfgs({**dict.fromkeys(CIFAR_MODELS, cifar_cfg),
                                **dict.fromkeys(IMAGENET_MODELS, imagenet_cfg)})


@_register
def cifar_resnet20(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-20 (3 BasicBlocks per stage, 0.27M parameters)."""
    return _create("cifar_resnet20", pretrained, _cifar_args(20), **kwargs)


@_register
def cifar_resnet32(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-32 (5 BasicBlocks per stage, 0.46M parameters)."""
    return _create("cifar_resnet32", pretrained, _cifar_args(32), **kwargs)


@_register
def cifar_resnet44(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-44 (7 BasicBlocks per stage, 0.66M parameters)."""
    return _create("cifar_resnet44", pretrained, _cifar_args(44), **kwargs)


@_register
def cifar_resnet56(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-56 (9 BasicBlocks per stage, 0.86M parameters)."""
    return _create("cifar_resnet56", pretrained, _cifar_args(56), **kwargs)


@_register
def cifar_resnet110(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-110 (18 BasicBlocks per stage, 1.7M parameters)."""
    return _create("cifar_resnet110", pretrained, _cifar_args(110), **kwargs)


@_register
def cifar_resnet1202(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """CIFAR ResNet-1202 (200 BasicBlocks per stage, 19.4M parameters)."""
    return _create("cifar_resnet1202", pretrained, _cifar_args(1202), **kwargs)


@_register
def zoo_resnet18(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-18, torchvision layout (11.7M parameters)."""
    return _create("zoo_resnet18", pretrained, _imagenet_args(18), **kwargs)


@_register
def zoo_resnet34(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-34, torchvision layout (21.8M parameters)."""
    return _create("zoo_resnet34", pretrained, _imagenet_args(34), **kwargs)


@_register
def zoo_resnet50(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-50, torchvision layout (25.6M parameters)."""
    return _create("zoo_resnet50", pretrained, _imagenet_args(50), **kwargs)


@_register
def zoo_resnet101(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-101, torchvision layout (44.5M parameters)."""
    return _create("zoo_resnet101", pretrained, _imagenet_args(101), **kwargs)


@_register
def zoo_resnet152(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-152, torchvision layout (60.2M parameters)."""
    return _create("zoo_resnet152", pretrained, _imagenet_args(152), **kwargs)
