"""``resnet-zoo export-onnx``: a shipped model as an ONNX graph that ONNX Runtime runs at any batch size with the
PyTorch model's logits; and its bad input, one line each with nothing left on disk."""
import numpy as np
import onnxruntime
import pytest
import timm
import torch

import resnet_zoo.onnx_export
from resnet_zoo.commands.cli import main
from resnet_zoo.onnx_export import INPUT_NAME, OUTPUT_NAME

from shipped import HUB

FOLDER = HUB / "cifar_resnet20.ak_cifar10"  # shortcut A: the parameter-free shortcut exports too


def test_the_export_runs_in_onnx_runtime_at_any_batch_size_with_the_models_logits(tmp_path, capsys):
    out = tmp_path / "onnx" / "model.onnx"  # in a folder made for it
    assert main(["export-onnx", str(out), "--model", "cifar_resnet20", "--checkpoint", str(FOLDER)]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx"]  # the weights inside, no temporary files
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    model = timm.create_model(f"local-dir:{FOLDER}", pretrained=True).eval()
    for batch in (1, 7):
        images = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(logits, model(images).numpy(), rtol=0, atol=1e-4)


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep")
    argv = ["export-onnx", str(out), "--model", "cifar_resnet20", "--checkpoint", str(FOLDER)]
    assert main(argv) == 1
    assert capsys.readouterr().err == (f"resnet-zoo export-onnx: error: {out} exists; pass --overwrite to replace "
                                       f"it, or choose another file\n")
    assert out.read_bytes() == b"keep"
    assert main([*argv, "--overwrite"]) == 0 and out.read_bytes()[:4] != b"keep"


@pytest.mark.parametrize("case", ["folder", "missing extra", "runtime disagrees", "weights of another depth"])
def test_bad_input_is_one_line_and_leaves_nothing(case, tmp_path, capsys, monkeypatch):
    out, model = tmp_path / "new" / "model.onnx", "cifar_resnet20"
    if case == "folder":
        out.mkdir(parents=True)
        expected = f"{out} is a folder; give the .onnx file to write"
    elif case == "missing extra":
        monkeypatch.setattr(resnet_zoo.onnx_export, "EXTRA", ("onnx", "no_such_package_here"))
        expected = 'ONNX export needs no_such_package_here: pip install "resnet-zoo[onnx]"'
    elif case == "runtime disagrees":
        monkeypatch.setattr(resnet_zoo.onnx_export, "TOLERANCE", -1.)
        expected = "ONNX Runtime's logits differ from PyTorch's by "
    else:
        model = "cifar_resnet32"
        expected = f"{FOLDER} holds a cifar_resnet20, not a cifar_resnet32"
    assert main(["export-onnx", str(out), "--model", model, "--checkpoint", str(FOLDER)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo export-onnx: error: ") and expected in err and err.count("\n") == 1
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == \
        (["new", "new/model.onnx"] if case == "folder" else [])  # nor the folder made for it
