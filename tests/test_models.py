"""The two model families: exact architecture, reference equivalence, and timm's model API."""
import inspect
import pickle
from functools import partial

import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from timm.models import group_parameters, model_entrypoint

import resnet_zoo
from resnet_zoo import PadShortcut, ResNet
from resnet_zoo.errors import WeightsError, ZooError
from resnet_zoo.resnet import CIFAR_MODELS, IMAGENET_MODELS, MODELS, _register
from resnet_zoo.resnet import check_model_name, is_zoo_model

from reference_resnet import CifarResNet

# in the registry's order; shortcut A: the paper's counts as reproduced by the widely used CIFAR reference
PARAMS_A = dict(zip(CIFAR_MODELS, [269_722, 464_154, 658_586, 853_018, 1_727_962, 19_421_274], strict=True))
# shortcut B adds two bias-free 1x1 projections + BN: (16*32 + 2*32) + (32*64 + 2*64) = 2,752
PARAMS_B = dict(zip(CIFAR_MODELS, [272_474, 466_906, 661_338, 855_770, 1_730_714, 19_424_026], strict=True))
PARAMS_TORCHVISION = dict(zip(IMAGENET_MODELS, [11_689_512, 21_797_672, 25_557_032, 44_549_160, 60_192_808],
                              strict=True))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_holds_the_papers_depths_and_timm_has_them_all():
    """The one hand-typed model list: the depths of He et al. (2016), CIFAR (§4.2) and ImageNet (Table 1)."""
    assert MODELS == ("cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56", "cifar_resnet110",
                      "cifar_resnet1202", "zoo_resnet18", "zoo_resnet34", "zoo_resnet50", "zoo_resnet101",
                      "zoo_resnet152")
    assert timm.list_models("cifar_resnet*") + timm.list_models("zoo_resnet*") == list(MODELS)
    assert {model_entrypoint(name).__module__ for name in MODELS} == {"resnet_zoo.resnet"}


def test_registering_a_name_timm_already_has_is_refused():
    def resnet50(pretrained: bool = False, **kwargs) -> ResNet:
        raise AssertionError("never registered, never called")

    with pytest.raises(ZooError, match=r"^model name 'resnet50' is already registered in timm by "
                                       r"timm\.models\.resnet; resnet_zoo will not replace it$"):
        _register(resnet50)
    assert model_entrypoint("resnet50").__module__ == "timm.models.resnet"


def test_names_outside_the_registry_are_refused_naming_its_models():
    assert is_zoo_model("cifar_resnet56") and is_zoo_model("cifar_resnet20.rz_cifar10")
    assert not is_zoo_model("resnet50") and not is_zoo_model("cifar_resnet21")
    with pytest.raises(ZooError) as error:
        check_model_name("cifar_resnet21")
    assert str(error.value) == (f"'cifar_resnet21' is not a resnet-zoo model; the CIFAR ones: "
                                f"{', '.join(CIFAR_MODELS)}; the ImageNet ones: {', '.join(IMAGENET_MODELS)}")


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_param_counts(name):
    assert n_params(timm.create_model(name, shortcut="A")) == PARAMS_A[name]
    assert n_params(timm.create_model(name)) == PARAMS_B[name]


def test_shortcut_b_is_default_and_bias_free():
    model = timm.create_model("cifar_resnet56")
    assert (model.stem, model.shortcut) == ("cifar", "B")
    assert (timm.create_model("zoo_resnet50").stem, timm.create_model("cifar_resnet20", shortcut="A").shortcut) \
        == ("imagenet", "A")
    proj = model.layer2[0].downsample
    assert isinstance(proj, nn.Sequential) and proj[0].bias is None and isinstance(proj[1], nn.BatchNorm2d)
    assert model.layer1[0].downsample is None  # 16 -> 16 at stride 1: identity
    assert not any(isinstance(m, nn.Conv2d) and m.bias is not None for m in model.modules())


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_imagenet_param_counts(name):
    assert n_params(timm.create_model(name)) == PARAMS_TORCHVISION[name]


def test_bottleneck_projects_in_first_stage():
    model = timm.create_model("zoo_resnet50")
    proj = model.layer1[0].downsample  # 64 -> 256 channels at stride 1
    assert proj is not None and proj[0].in_channels == 64 and proj[0].out_channels == 256
    assert proj[0].stride == (1, 1)
    assert model.layer1[0].conv2.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)  # v1.5: 3x3


def assert_same_outputs(ours: nn.Module, reference: nn.Module, size: int) -> None:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name, build_reference", [
    *(pytest.param(name, getattr(torchvision.models, name.removeprefix("zoo_")), id=f"torchvision-{name}")
      for name in IMAGENET_MODELS),
    pytest.param("zoo_resnet50", partial(timm.create_model, "resnet50"), id="timm-zoo_resnet50"),
])
def test_torchvision_and_timm_state_dicts_load_strictly_and_match(name, build_reference):
    torch.manual_seed(0)
    reference = build_reference().eval()
    ours = timm.create_model(name, device="meta").eval()  # no init: every tensor is assigned
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert_same_outputs(ours, reference, 64)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_cifar_resnet_matches_the_reference_implementation(shortcut):
    """Same tensors in the same order (under other names: ``shortcut``, ``linear``), same outputs."""
    torch.manual_seed(0)
    reference = CifarResNet(3, shortcut).eval()
    for m in reference.modules():  # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    ours = timm.create_model("cifar_resnet20", shortcut=shortcut).eval()
    tensors = list(reference.state_dict().values())
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in tensors]
    ours.load_state_dict(dict(zip(ours.state_dict(), tensors)), strict=True)
    assert_same_outputs(ours, reference, 32)


def test_pad_shortcut_pads_both_sides():
    x = torch.randn(2, 16, 8, 8)
    y = PadShortcut(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()


def test_shortcut_a_model_pickles_and_scripts():
    model = timm.create_model("cifar_resnet20", shortcut="A").eval()
    clone = pickle.loads(pickle.dumps(model))
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(clone(x), model(x))
        assert (scripted(x) - model(x)).abs().max().item() < 1e-5


def test_unknown_shortcut_names_valid_ones():
    with pytest.raises(ValueError, match=r"unknown shortcut type 'C'.*'A'.*'B'"):
        timm.create_model("cifar_resnet20", shortcut="C")


@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (3, 32, 32), (2, 3, 32, 32, 1)])
def test_bad_input_names_expected_shape(shape):
    model = timm.create_model("cifar_resnet20").eval()
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got \["):
        model(torch.randn(shape))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        model.forward_intermediates(torch.randn(shape))


def test_pretrained_without_weights_is_an_error():
    with pytest.raises(WeightsError) as error:
        timm.create_model("zoo_resnet50", pretrained=True)
    assert str(error.value) == ("no pretrained weights for zoo_resnet50 with its default architecture; weights that "
                                "exist: none (or load your own: pretrained_cfg_overlay=dict(file=...))")


def test_pretrained_without_default_weights_says_how_to_load_those_that_exist(monkeypatch):
    """As for a model whose only weights need an architecture option (cifar_resnet44 had only ``ak_cifar10``)."""
    monkeypatch.setattr(resnet_zoo.resnet, "list_pretrained_tags", lambda variant: [f"{variant}.ak_cifar10"])
    with pytest.raises(WeightsError) as error:
        timm.create_model("cifar_resnet1202", pretrained=True)
    assert str(error.value) == (
        "no pretrained weights for cifar_resnet1202 with its default architecture; weights that exist: "
        "cifar_resnet1202.ak_cifar10 (shortcut='A'); load them by the tagged name, which builds the architecture they "
        "need: timm.create_model('cifar_resnet1202.ak_cifar10', pretrained=True), --model cifar_resnet1202.ak_cifar10, "
        "or torch.hub.load(..., 'cifar_resnet1202', tag='ak_cifar10', pretrained=True) (or load your own: "
        "pretrained_cfg_overlay=dict(file=...))")


def test_pretrained_cfgs():
    cfg = timm.get_pretrained_cfg("cifar_resnet20")
    assert (cfg.tag, cfg.hf_hub_id) == ("rz_cifar10", f"{resnet_zoo.pretrained.HF_HUB_ORG}/cifar_resnet20.rz_cifar10")
    assert cfg.input_size == (3, 32, 32) and cfg.pool_size == (8, 8) and cfg.crop_pct == 1.0
    assert cfg.mean == (0.4914, 0.4822, 0.4465) and cfg.std == (0.2470, 0.2435, 0.2616)
    assert cfg.first_conv == "conv1" and cfg.classifier == "fc" and cfg.num_classes == 10
    assert cfg.label_names[0] == "airplane" and len(cfg.label_names) == 10
    assert cfg.license == "apache-2.0" and cfg.paper_ids
    assert timm.get_pretrained_cfg("zoo_resnet50").input_size == (3, 224, 224)


def test_a_model_without_weights_has_an_untagged_default_cfg():
    cfg = timm.get_pretrained_cfg("cifar_resnet1202")
    assert (cfg.tag, cfg.hf_hub_id, cfg.mean, cfg.input_size) == (None, None, (0.4914, 0.4822, 0.4465), (3, 32, 32))


def test_converted_weights_keep_their_sources_licence_and_normalisation():
    cfg, ak = timm.get_pretrained_cfg("cifar_resnet44"), timm.get_pretrained_cfg("cifar_resnet44.ak_cifar10")
    assert (ak.hf_hub_id, ak.license) == ("resnet-zoo/cifar_resnet44.ak_cifar10", "bsd-2-clause")
    assert (ak.mean, ak.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (ak.input_size, ak.label_names) == (cfg.input_size, cfg.label_names)


def test_a_tag_builds_its_weights_architecture_unless_told_otherwise():
    assert n_params(timm.create_model("cifar_resnet56.ak_cifar10")) == PARAMS_A["cifar_resnet56"]
    assert timm.create_model("cifar_resnet56.ak_cifar10").shortcut == "A"
    assert n_params(timm.create_model("cifar_resnet56.ak_cifar10", shortcut="B")) == PARAMS_B["cifar_resnet56"]
    assert n_params(timm.create_model("cifar_resnet56")) == PARAMS_B["cifar_resnet56"]


def test_cifar_shapes_and_features():
    model = timm.create_model("cifar_resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert model.forward_features(x).shape == (2, 64, 8, 8)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 64)
    assert model.num_features == 64
    assert [(f["num_chs"], f["reduction"], f["module"]) for f in model.feature_info] == [
        (16, 1, "act1"), (16, 1, "layer1"), (32, 2, "layer2"), (64, 4, "layer3")]


@pytest.mark.parametrize("name, chs, shapes", [
    ("cifar_resnet20", [16, 16, 32, 64], [32, 32, 16, 8]),
    ("zoo_resnet50", [64, 256, 512, 1024, 2048], [32, 16, 8, 4, 2]),
])
def test_features_only_and_intermediates(name, chs, shapes):
    size = 32 if name in CIFAR_MODELS else 64
    x = torch.randn(2, 3, size, size)
    model = timm.create_model(name).eval()
    extractor = timm.create_model(name, features_only=True).eval()
    extractor.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fc.")})
    feats = extractor(x)
    assert [f.shape[1] for f in feats] == chs and [f.shape[-1] for f in feats] == shapes
    final, inter = model.forward_intermediates(x)
    assert [f.shape[1] for f in inter] == chs
    assert torch.allclose(final, model.forward_features(x))
    for a, b in zip(inter, feats):
        assert torch.allclose(a, b)
    assert len(model.forward_intermediates(x, indices=2, intermediates_only=True)) == 2
    model.prune_intermediate_layers(indices=[1])
    assert model.forward_intermediates(x, indices=[1], intermediates_only=True)[0].shape[1] == chs[1]


@pytest.mark.parametrize("norm", [False, True])
def test_feature_getter_prunes_the_model_with_or_without_norm(norm):
    """timm's getter prunes with ``prune_norm=not norm``: either way there is no final norm to drop or apply."""
    extractor = timm.create_model("cifar_resnet20", features_only=True, feature_cls="getter", out_indices=(1, 2),
                                  feature_cfg=dict(norm=norm)).eval()
    assert [f.shape[1:] for f in extractor(torch.randn(2, 3, 32, 32))] == [(16, 32, 32), (32, 16, 16)]
    assert len(extractor.model.layer3) == 0


@pytest.mark.parametrize("name", ["cifar_resnet20", "zoo_resnet18"])
def test_feature_cfg_out_indices_choose_the_features(name):
    """timm's ``feature_cfg=dict(out_indices=...)`` as its own models take it (it raised a TypeError)."""
    extractor = timm.create_model(name, features_only=True, feature_cfg=dict(out_indices=(1, 2))).eval()
    size = extractor.pretrained_cfg["input_size"][1]
    assert extractor.feature_info.out_indices == (1, 2)
    assert len(extractor(torch.randn(1, 3, size, size))) == 2


def test_reset_classifier_and_other_heads():
    model = timm.create_model("cifar_resnet20", num_classes=100, in_chans=1, drop_rate=0.1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 100)
    model.reset_classifier(5)
    assert model.get_classifier().out_features == 5
    model.reset_classifier(0)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 64)
    model.reset_classifier(0, "")
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 64, 8, 8)


def test_grad_checkpointing_gives_same_outputs_and_grads(monkeypatch):
    """With checkpointing on, the stages run through timm's ``checkpoint_seq`` (and only then), giving the same
    outputs and gradients."""
    calls = []
    checkpoint_seq = resnet_zoo.resnet.checkpoint_seq
    monkeypatch.setattr(resnet_zoo.resnet, "checkpoint_seq", lambda *a, **k: calls.append(1) or checkpoint_seq(*a, **k))
    torch.manual_seed(0)
    model = timm.create_model("cifar_resnet20", drop_path_rate=0.0).train()
    x = torch.randn(4, 3, 32, 32)
    results = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        out = model(x)
        out.sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()], len(calls)))
    (plain, plain_grads, plain_calls), (checkpointed, grads, checkpointed_calls) = results
    assert (plain_calls, checkpointed_calls) == (0, 1)
    torch.testing.assert_close(checkpointed, plain)
    for g, p in zip(plain_grads, grads):
        torch.testing.assert_close(p, g, atol=1e-5, rtol=1e-5)


def test_group_matcher_covers_all_parameters():
    model = timm.create_model("cifar_resnet20")
    groups = group_parameters(model, model.group_matcher(coarse=True))
    assert len(groups) == 5  # stem, 3 stages, head
    assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))


@pytest.mark.parametrize("name", ["cifar_resnet20", "zoo_resnet50"])
def test_torchscript_matches_eager(name):
    model = timm.create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (torch.jit.script(model)(x) - model(x)).abs().max().item() < 1e-5


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_compile_fullgraph_has_no_graph_breaks(shortcut):
    torch._dynamo.reset()
    model = timm.create_model("cifar_resnet20", shortcut=shortcut).eval()
    x = torch.randn(2, 3, 32, 32)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    torch._dynamo.reset()
    model = timm.create_model("cifar_resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (torch.compile(model, fullgraph=True)(x) - model(x)).abs().max().item() < 1e-4


def test_channels_last_matches():
    model = timm.create_model("cifar_resnet20", shortcut="A").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.to(memory_format=torch.channels_last))
    assert torch.allclose(out, ref, atol=1e-5)


def test_stochastic_depth_only_in_training():
    """In training mode a block's residual branch is dropped for some images and scaled by 1 / (1 - rate) for the
    others, the shortcut untouched; in eval mode every call gives the same output. The branches start non-zero
    (``zero_init_last=False``), or dropping them would change nothing."""
    model = timm.create_model("cifar_resnet20", drop_path_rate=0.2, zero_init_last=False)
    assert model.layer3[2].drop_path.drop_prob == pytest.approx(0.2)
    assert isinstance(model.layer1[0].drop_path, nn.Identity)  # first block: rate 0
    block, x, y = model.layer3[2], torch.randn(16, 3, 32, 32), torch.randn(16, 64, 8, 8)
    seen = {}
    block.drop_path.register_forward_hook(lambda module, args, out: seen.update(branch=args[0], out=out))
    torch.manual_seed(0)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x), model(x))
        out = block(y)  # identity shortcut: out = relu(drop_path(branch) + y)
        kept = seen["out"].flatten(1).any(1)
        assert 0 < kept.sum() < 16  # some images lose the branch, the others keep it
        torch.testing.assert_close(seen["out"], seen["branch"] * kept.view(-1, 1, 1, 1) / 0.8)
        torch.testing.assert_close(out, torch.relu(seen["out"] + y))
        model.eval()
        assert torch.equal(model(x), model(x)) and torch.equal(block(y), torch.relu(seen["branch"] + y))


def _drop_path_rates(model: nn.Module) -> list:
    """Each block's stochastic depth rate, in order."""
    return [getattr(m.drop_path, "drop_prob", 0.) for m in model.modules() if hasattr(m, "drop_path")]


@pytest.mark.parametrize("name", ["zoo_resnet18", "zoo_resnet50", "cifar_resnet20"])
def test_stochastic_depth_rises_linearly_over_the_blocks_as_in_timm(name):
    ours = _drop_path_rates(timm.create_model(name, drop_path_rate=0.3))
    assert ours == pytest.approx([0.3 * i / (len(ours) - 1) for i in range(len(ours))])
    if name.startswith("zoo_"):
        assert ours == pytest.approx(_drop_path_rates(timm.create_model(name[4:], drop_path_rate=0.3)))


def test_resnet_rejects_bad_layouts():
    with pytest.raises(ValueError, match="unknown stem"):
        ResNet(resnet_zoo.BasicBlock, (2, 2, 2), channels=(16, 32, 64), stem="tiny")
    with pytest.raises(ValueError, match="3 or 4 stages"):
        ResNet(resnet_zoo.BasicBlock, (2, 2), channels=(16, 32), stem="cifar")


@pytest.mark.parametrize("ours, theirs", [(ResNet, timm.models.resnet.ResNet),
                                          (resnet_zoo.BasicBlock, timm.models.resnet.BasicBlock),
                                          (resnet_zoo.Bottleneck, timm.models.resnet.Bottleneck)])
def test_constructors_take_timms_arguments_in_timms_order(ours, theirs):
    """What our constructors may take by position is timm's first arguments, by name and order; the others are
    keyword-only and, where timm has them, of the same name."""
    params, timms = inspect.signature(ours).parameters, list(inspect.signature(theirs).parameters)
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == timms[:len(positional)] and len(positional) >= 4
    assert set(params) - set(positional) == {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    shared = [n for n in params if n in timms]
    assert shared == [n for n in timms if n in params]  # the same relative order


def test_a_timm_users_positional_arguments_mean_what_they_mean_in_timm():
    model = ResNet(resnet_zoo.BasicBlock, [2, 2, 2, 2], 10, 1, global_pool="max")
    assert (model.num_classes, model.in_chans, model.global_pool.pool_type) == (10, 1, "max")
    block = resnet_zoo.Bottleneck(256, 64, 2, None, drop_path=timm.layers.DropPath(0.1))
    assert (block.conv1.in_channels, block.conv2.stride, block.drop_path.drop_prob) == (256, (2, 2), 0.1)
