"""Precision: what ``auto`` resolves to, the fast inference model, and the top-1 of every shipped weight in its
fast and bf16 forms against the exact fp32 model on the full CIFAR-10 test set."""

import pytest
import timm
import torch
import torch.nn as nn

from resnet_zoo.cifar import DeviceLoader, load_cifar
from resnet_zoo.errors import ZooError
from resnet_zoo.evaluation import evaluate
from resnet_zoo.precision import inference_model, is_channels_last, native_bf16, resolve_precision
from resnet_zoo.resnet import PRETRAINED

from shipped import HUB, default_or_slow

CPU = torch.device("cpu")
MAX_TOP1_CHANGE = 0.10
"""Largest change of top-1 (points) that the fast or bf16 inference may make to a shipped weight's."""


@pytest.mark.parametrize("amx, avx512_bf16, native, expected", [
    (False, False, False, "fp32"), (True, False, True, "bf16"), (False, True, True, "fp32"), (True, True, True, "bf16"),
])
def test_auto_is_bf16_only_where_the_cpu_has_amx(monkeypatch, amx, avx512_bf16, native, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert native_bf16(CPU) is native
    assert resolve_precision("auto", CPU) == expected
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_unknown_precision_is_an_error():
    with pytest.raises(ZooError, match="unknown precision 'fp16'; valid: auto, bf16, fp32"):
        resolve_precision("fp16", CPU)


def test_fp32_inference_is_the_model_as_loaded():
    model = timm.create_model("cifar_resnet20")
    exact, dtype = inference_model(model, "fp32", CPU)
    assert exact is model and dtype is None and not model.training and not is_channels_last(exact)
    assert any(isinstance(m, nn.BatchNorm2d) for m in exact.modules())


@pytest.mark.parametrize("precision", ["auto", "bf16"])
def test_fast_inference_is_folded_and_channels_last(precision):
    model = timm.create_model("cifar_resnet20").eval()
    fast, dtype = inference_model(model, precision, CPU)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last) and is_channels_last(fast)
    assert dtype == (torch.bfloat16 if resolve_precision(precision, CPU) == "bf16" else None)
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        expected = model(x)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = fast(x).float()
    tolerance = 5e-2 if dtype else 1e-4
    torch.testing.assert_close(logits, expected, atol=tolerance, rtol=tolerance)


@pytest.fixture(scope="module")
def fast_top1(cifar10_root):
    """Top-1 of the shipped weights ``hub/<name>/`` at a precision's inference model (`inference_model`) on the
    whole test split, through resnet_zoo's loader and evaluation."""
    split = load_cifar(cifar10_root, "cifar10", "test")

    def measure(name: str, precision: str) -> float:
        model = timm.create_model(f"local-dir:{HUB / name}", pretrained=True)
        model, dtype = inference_model(model, precision, CPU)
        cfg = model.pretrained_cfg
        loader = DeviceLoader(split, 1000, cfg["mean"], cfg["std"], channels_last=is_channels_last(model))
        return evaluate(model, loader, dtype).top1

    return measure


_BF16_MARKS = [] if native_bf16(CPU) else [pytest.mark.skip(
    reason="bf16 is emulated on this CPU (neither AVX512-BF16 nor AMX): minutes per model; native CPUs check it")]


@pytest.mark.parametrize("precision", ["auto", pytest.param("bf16", marks=_BF16_MARKS)])
@pytest.mark.parametrize("name", default_or_slow(PRETRAINED))  # the default run: one of each shortcut type
def test_shipped_weights_keep_their_top1_at_every_precision(name, precision, fast_top1, shipped_top1):
    """Against the exact fp32 model as timm loads it (`conftest.shipped_top1`, measured once per session)."""
    exact, fast = shipped_top1(name), fast_top1(name, precision)
    assert abs(fast - exact) <= MAX_TOP1_CHANGE, f"{name}: {precision} {fast:.2f}% vs fp32 {exact:.2f}%"
