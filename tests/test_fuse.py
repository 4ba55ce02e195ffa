"""fuse_bn: BatchNorm folded into the convolutions, same outputs, same module names, exportable."""
import pytest
import timm
import torch
import torch.nn as nn

import resnet_zoo
from resnet_zoo import BasicBlock, Bottleneck, fuse_bn
from resnet_zoo.resnet import CIFAR_MODELS, MODELS


def input_for(name: str, batch: int = 2) -> torch.Tensor:
    size = 32 if name in CIFAR_MODELS else 64
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def trained_like(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, in eval mode.

    Running statistics are those of ``x`` (one train-mode pass with cumulative averaging), scales and shifts
    are random, and the last BN of each residual branch gets a small scale as in a trained ResNet: every
    convolution and BN then shapes the output while fp32 rounding stays far below 1e-5 even at depth 1202.
    """
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
            m.momentum = None
        if isinstance(m, (BasicBlock, Bottleneck)):
            m.zero_init_last()
    model.train()(x)
    for m in model.modules():
        if isinstance(m, BasicBlock):
            m.bn2.weight.uniform_(0.01, 0.1)
        elif isinstance(m, Bottleneck):
            m.bn3.weight.uniform_(0.01, 0.1)
    return model.eval()


def model_and_input(name: str, **kwargs) -> tuple:
    x = input_for(name)
    return trained_like(timm.create_model(name, **kwargs), x), x


def batch_norms(model: nn.Module) -> list:
    return [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "cifar_resnet1202" else n
                                  for n in MODELS])  # 1202: 600 blocks, minutes on a loaded 2-core runner
def test_fused_model_matches_unfused(name):
    model, x = model_and_input(name)
    fused = fuse_bn(model)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=0, atol=1e-5)
    assert batch_norms(fused) == []
    assert not fused.training


def test_fold_formula_on_shortcut_projection():
    model, _ = model_and_input("cifar_resnet20")
    conv, bn = model.layer2[0].downsample
    fused_conv = fuse_bn(model).layer2[0].downsample[0]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(fused_conv.weight, conv.weight * scale[:, None, None, None])
    torch.testing.assert_close(fused_conv.bias, bn.bias - bn.running_mean * scale)


def test_model_is_left_unchanged():
    model, x = model_and_input("cifar_resnet20")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fuse_bn(model)
    assert len(batch_norms(model)) == 1 + 2 * 9 + 2  # stem, 2 per block, the two shortcut projections
    torch.testing.assert_close(model.state_dict(), before, rtol=0, atol=0)


def test_module_names_are_kept():
    model, _ = model_and_input("zoo_resnet50")
    fused = fuse_bn(model)
    assert [n for n, _ in fused.named_modules()] == [n for n, _ in model.named_modules()]
    assert isinstance(fused.layer1[0].bn1, nn.Identity)
    assert isinstance(fused.layer2[0].downsample[1], nn.Identity)
    assert fused.layer2[0].downsample[0].bias is not None
    assert fused.get_submodule("layer4.2.conv3").bias.shape == (2048,)


def test_shortcut_a_model():
    model, x = model_and_input("cifar_resnet56", shortcut="A")
    fused = fuse_bn(model)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=0, atol=1e-5)
    assert batch_norms(fused) == []
    assert isinstance(fused.layer2[0].downsample, resnet_zoo.PadShortcut)


def test_fusing_twice_changes_nothing():
    model, _ = model_and_input("cifar_resnet20")
    once = fuse_bn(model)
    torch.testing.assert_close(fuse_bn(once).state_dict(), once.state_dict(), rtol=0, atol=0)


def test_refuses_model_in_training_mode():
    model, _ = model_and_input("cifar_resnet20")
    with pytest.raises(ValueError, match=r"eval mode; call model.eval\(\) first \(ResNet is in training"):
        fuse_bn(model.train())


def test_refuses_submodule_in_training_mode():
    model, _ = model_and_input("cifar_resnet20")
    model.layer3[1].train()
    with pytest.raises(ValueError, match=r"\(layer3.1 is in training mode\)"):
        fuse_bn(model)


def test_refuses_batch_norm_without_conv_before_it():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    with pytest.raises(ValueError, match=r"cannot fold BatchNorm 2:"):
        fuse_bn(model)


def test_refuses_unknown_model_instead_of_fusing_part_of_it():
    model = timm.create_model("resnet18").eval()  # timm's own blocks: fuse_bn does not know their forward
    with pytest.raises(ValueError, match=r"cannot fold BatchNorm bn1, layer1.0.bn1, layer1.0.bn2, "):
        fuse_bn(model)


def test_forward_intermediates_on_fused_model():
    model, x = model_and_input("zoo_resnet18")
    fused = fuse_bn(model)
    with torch.no_grad():
        expected = model.forward_intermediates(x, intermediates_only=True)
        got = fused.forward_intermediates(x, intermediates_only=True)
    assert [t.shape[1] for t in got] == [64, 64, 128, 256, 512]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_timm_features_only_model():
    x = input_for("zoo_resnet34")
    model = trained_like(timm.create_model("zoo_resnet34", features_only=True, out_indices=(1, 3)), x)
    fused = fuse_bn(model)
    assert batch_norms(fused) == []
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=0, atol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
@pytest.mark.parametrize("name", ["cifar_resnet20", "zoo_resnet50"])
def test_fused_model_scripts(name):
    model, x = model_and_input(name)
    fused = fuse_bn(model)
    scripted = torch.jit.script(fused)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), fused(x), rtol=0, atol=1e-6)


def test_fused_model_compiles_to_one_graph():
    model, x = model_and_input("cifar_resnet20")
    fused = fuse_bn(model)
    torch.compiler.reset()
    compiled = torch.compile(fused, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), fused(x), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_fused_model_compiles_with_inductor():
    model, x = model_and_input("cifar_resnet20")
    fused = fuse_bn(model)
    torch.compiler.reset()
    compiled = torch.compile(fused, fullgraph=True)
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), fused(x), rtol=0, atol=1e-5)


def test_fused_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, x = model_and_input("cifar_resnet20")
    fused = fuse_bn(model)
    path = tmp_path / "cifar_resnet20_fused.onnx"
    torch.onnx.export(fused, (x,), path, input_names=["images"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    batch = input_for("cifar_resnet20", batch=5)
    (logits,) = session.run(["logits"], {"images": batch.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), fused(batch), rtol=0, atol=1e-5)
