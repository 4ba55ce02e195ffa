"""The two model families: exact architecture, reference equivalence, and timm's model API."""
import pickle

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import resnet_zoo
from resnet_zoo import PadShortcut, ResNet
from resnet_zoo.errors import WeightsError

CIFAR = ["cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56", "cifar_resnet110",
         "cifar_resnet1202"]
IMAGENET = ["zoo_resnet18", "zoo_resnet34", "zoo_resnet50", "zoo_resnet101", "zoo_resnet152"]

# shortcut A: the paper's counts as reproduced by the widely used CIFAR reference implementation
PARAMS_A = dict(zip(CIFAR, [269_722, 464_154, 658_586, 853_018, 1_727_962, 19_421_274]))
# shortcut B adds two bias-free 1x1 projections + BN: (16*32 + 2*32) + (32*64 + 2*64) = 2,752
PARAMS_B = dict(zip(CIFAR, [272_474, 466_906, 661_338, 855_770, 1_730_714, 19_424_026]))
PARAMS_TORCHVISION = dict(zip(IMAGENET, [11_689_512, 21_797_672, 25_557_032, 44_549_160, 60_192_808]))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registered_names():
    assert timm.list_models("cifar_resnet*") == CIFAR
    assert timm.list_models("zoo_resnet*") == IMAGENET
    for name in CIFAR + IMAGENET:
        assert timm.models.model_entrypoint(name).__module__ == "resnet_zoo.resnet"


def test_timm_names_are_not_replaced():
    # resnet_zoo registers only new names: timm's own resnet50 is still timm's
    assert timm.models.model_entrypoint("resnet50").__module__ == "timm.models.resnet"


@pytest.mark.parametrize("name", CIFAR)
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


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_param_counts(name):
    assert n_params(timm.create_model(name)) == PARAMS_TORCHVISION[name]


def test_bottleneck_projects_in_first_stage():
    model = timm.create_model("zoo_resnet50")
    proj = model.layer1[0].downsample  # 64 -> 256 channels at stride 1
    assert proj is not None and proj[0].in_channels == 64 and proj[0].out_channels == 256
    assert proj[0].stride == (1, 1)
    assert model.layer1[0].conv2.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)  # v1.5: 3x3


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_torchvision_state_dict_loads_strictly_and_matches(depth):
    torch.manual_seed(depth)
    ref = getattr(torchvision.models, f"resnet{depth}")().eval()
    ours = timm.create_model(f"zoo_resnet{depth}", device="meta").eval()  # no init: every tensor is assigned
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5


def test_timm_resnet_state_dict_loads_strictly_and_matches():
    torch.manual_seed(0)
    ref = timm.create_model("resnet50").eval()
    ours = timm.create_model("zoo_resnet50", device="meta").eval()
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5


class _ReferenceBlockA(nn.Module):
    """Independent option-A BasicBlock in the style of the common CIFAR reproduction (lambda shortcut)."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = stride != 1 or in_planes != planes
        self.planes = planes

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.planes // 4, self.planes // 4)) if self.pad else x
        return F.relu(out + sc)


class _ReferenceResNetA(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(_ReferenceBlockA(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def test_shortcut_a_matches_reference_implementation():
    torch.manual_seed(0)
    ref = _ReferenceResNetA(3).eval()
    for m in ref.modules():  # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    ours = timm.create_model("cifar_resnet20", shortcut="A").eval()
    ref_tensors = list(ref.state_dict().values())
    ours_sd = ours.state_dict()
    assert [v.shape for v in ours_sd.values()] == [v.shape for v in ref_tensors]
    ours.load_state_dict(dict(zip(ours_sd.keys(), ref_tensors)), strict=True)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5


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


def test_unknown_model_is_an_error():
    with pytest.raises(RuntimeError, match="Unknown model"):
        timm.create_model("cifar_resnet21")


def test_pretrained_without_weights_is_an_error():
    with pytest.raises(WeightsError) as error:
        timm.create_model("zoo_resnet50", pretrained=True)
    assert str(error.value) == ("no pretrained weights for zoo_resnet50 with its default architecture; weights that "
                                "exist: none (or load your own: pretrained_cfg_overlay=dict(file=...))")


def test_pretrained_cfgs():
    cfg = timm.get_pretrained_cfg("cifar_resnet20")
    assert (cfg.tag, cfg.hf_hub_id) == ("rz_cifar10", f"{resnet_zoo.pretrained.HF_HUB_ORG}/cifar_resnet20.rz_cifar10")
    assert cfg.input_size == (3, 32, 32) and cfg.pool_size == (8, 8) and cfg.crop_pct == 1.0
    assert cfg.mean == (0.4914, 0.4822, 0.4465) and cfg.std == (0.2470, 0.2435, 0.2616)
    assert cfg.first_conv == "conv1" and cfg.classifier == "fc" and cfg.num_classes == 10
    assert cfg.label_names[0] == "airplane" and len(cfg.label_names) == 10
    assert cfg.license == "apache-2.0" and cfg.paper_ids
    assert timm.get_pretrained_cfg("zoo_resnet50").input_size == (3, 224, 224)


def test_a_model_without_default_weights_has_an_untagged_default_cfg():
    cfg, ak = timm.get_pretrained_cfg("cifar_resnet56"), timm.get_pretrained_cfg("cifar_resnet56.ak_cifar10")
    assert (cfg.tag, cfg.hf_hub_id, cfg.mean) == (None, None, (0.4914, 0.4822, 0.4465))
    assert (ak.hf_hub_id, ak.license) == ("resnet-zoo/cifar_resnet56.ak_cifar10", "bsd-2-clause")
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
    size = 32 if name.startswith("cifar") else 64
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


def test_reset_classifier_and_other_heads():
    model = timm.create_model("cifar_resnet20", num_classes=100, in_chans=1, drop_rate=0.1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 100)
    model.reset_classifier(5)
    assert model.get_classifier().out_features == 5
    model.reset_classifier(0)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 64)
    model.reset_classifier(0, "")
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 64, 8, 8)


def test_grad_checkpointing_gives_same_outputs_and_grads():
    torch.manual_seed(0)
    model = timm.create_model("cifar_resnet20", drop_path_rate=0.0).train()
    x = torch.randn(4, 3, 32, 32)
    model(x).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-5)


def test_group_matcher_covers_all_parameters():
    from timm.models._manipulate import group_parameters
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
    model = timm.create_model("cifar_resnet20", drop_path_rate=0.2)
    assert model.layer3[2].drop_path.drop_prob == pytest.approx(0.2)
    assert isinstance(model.layer1[0].drop_path, nn.Identity)  # first block: rate 0
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_resnet_rejects_bad_layouts():
    with pytest.raises(ValueError, match="unknown stem"):
        ResNet(resnet_zoo.BasicBlock, (2, 2, 2), (16, 32, 64), stem="tiny")
    with pytest.raises(ValueError, match="3 or 4 stages"):
        ResNet(resnet_zoo.BasicBlock, (2, 2), (16, 32), stem="cifar")
