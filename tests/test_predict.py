"""`resnet-zoo predict`: the bundled samples, timm preprocessing, label names, and bad input."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from resnet_zoo.checkpoint import EMA_PREFIX, MODEL_PREFIX, add_prefix, save_checkpoint
from resnet_zoo.cifar_constants import CIFAR10_CLASSES
from resnet_zoo.commands.cli import main
from resnet_zoo.hub import export
from resnet_zoo.inference import predict, sample_images
from resnet_zoo.weights import WEIGHTS_ENV


def test_samples_are_one_per_class():
    names = [p.name.split("_test")[0] for p in sample_images()]
    assert sorted(names) == sorted(CIFAR10_CLASSES)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("cifar_resnet20").eval()
    path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), str(path))
    return model, path


def test_predict_matches_manual_preprocessing(checkpoint):
    model, _ = checkpoint
    image = sample_images()[0]
    result = predict(model, [image], top_k=10)[0]
    # the same image by hand: CIFAR cfg is 32x32, crop_pct 1.0, CIFAR-10 mean/std
    x = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    mean, std = torch.tensor(model.pretrained_cfg["mean"]), torch.tensor(model.pretrained_cfg["std"])
    x = ((x - mean[:, None, None]) / std[:, None, None])[None]
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    assert [t["index"] for t in result["top"]] == probs.argsort(descending=True).tolist()
    assert result["top"][0]["prob"] == pytest.approx(probs.max().item(), abs=1e-4)
    assert result["top"][0]["label"] == CIFAR10_CLASSES[result["top"][0]["index"]]


def test_cli_predict_json(checkpoint, capsys):
    _, path = checkpoint
    assert main(["predict", "--model", "cifar_resnet20", "--checkpoint", str(path), "--json", "--top-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 10 and all(len(r["top"]) == 2 for r in out)


def test_cli_predict_with_a_hub_folder_uses_its_classes(tmp_path, capsys):
    """A model folder (as ``train`` exports) brings its own class names, here CIFAR-100's 100."""
    names = [f"class{i}" for i in range(100)]
    model = timm.create_model("cifar_resnet20", num_classes=100, pretrained_cfg_overlay=dict(label_names=names))
    folder = export(model, tmp_path / "cifar_resnet20.rz_cifar100", tag="rz_cifar100")
    assert main(["predict", "--checkpoint", str(folder), "--json", "--top-k", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {t["label"] for t in out[0]["top"]} == set(names)
    assert main(["predict", "--model", "cifar_resnet32", "--checkpoint", str(folder)]) == 1
    assert "holds a cifar_resnet20, not a cifar_resnet32" in capsys.readouterr().err


def test_cli_predict_with_a_training_checkpoint_uses_its_ema_weights(tmp_path, capsys):
    """``checkpoint.safetensors`` of a run, as validate takes it: the EMA weights, not the trained ones."""
    trained, ema = (timm.create_model("cifar_resnet20").eval() for _ in range(2))
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, add_prefix(MODEL_PREFIX, trained.state_dict()) | add_prefix(EMA_PREFIX, ema.state_dict()),
                    dict(epoch=1))
    assert main(["predict", "--checkpoint", str(path), "--json", "--top-k", "10", "--precision", "fp32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["top"] for r in out] == [r["top"] for r in predict(ema, sample_images(), top_k=10)]
    assert [r["top"] for r in out] != [r["top"] for r in predict(trained, sample_images(), top_k=10)]


def test_cli_predict_needs_weights(capsys):
    assert main(["predict", "--model", "cifar_resnet20"]) == 1
    assert "give --pretrained or --checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("weights", [["--pretrained"], ["--checkpoint", "model.safetensors"]])
def test_cli_predict_unknown_model_is_one_line(checkpoint, capsys, weights):
    weights = [str(checkpoint[1]) if w == "model.safetensors" else w for w in weights]
    assert main(["predict", "--model", "nosuchmodel", *weights]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo predict: error: 'nosuchmodel' is not a resnet-zoo model; the CIFAR ones: ")
    assert err.count("\n") == 1 and "cifar_resnet20" in err


@pytest.mark.parametrize("kind", ["random bytes", "torch pickle"])
def test_cli_predict_refuses_a_file_that_is_not_safetensors(checkpoint, tmp_path, capsys, kind):
    """Never unpickled, and the message never steers towards ``weights_only=False``: a torch.save file is sent to
    ``convert``."""
    path = tmp_path / "random.bin"
    if kind == "random bytes":
        path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                       dtype=torch.uint8).numpy().tobytes())
        reason = "not a readable safetensors file, truncated or corrupt"
    else:
        torch.save(checkpoint[0].state_dict(), path)
        reason = "a torch.save checkpoint, not a safetensors file; convert it with `resnet-zoo convert`"
    assert main(["predict", "--checkpoint", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"resnet-zoo predict: error: {path}: {reason}")
    assert err.count("\n") == 1 and "pickle" not in err and "weights_only" not in err


def test_cli_predict_unreadable_image_does_not_stop_the_others(checkpoint, tmp_path, capsys):
    _, path = checkpoint
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"hello")
    good = sample_images()[:2]
    assert main(["predict", "--checkpoint", str(path), "--json", str(good[0]), str(bad), str(good[1])]) == 1
    captured = capsys.readouterr()
    assert [r["image"] for r in json.loads(captured.out)] == [str(g) for g in good]
    assert captured.err.startswith(f"resnet-zoo predict: error: cannot read image {bad}: cannot identify image")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize("top_k", ["0", "-2"])
def test_cli_predict_top_k_must_be_positive(checkpoint, capsys, top_k):
    assert main(["predict", "--checkpoint", str(checkpoint[1]), "--top-k", top_k]) == 1
    assert capsys.readouterr().err == f"resnet-zoo predict: error: --top-k must be at least 1, got {top_k}\n"


def test_cli_predict_names_the_model_and_weights(checkpoint, capsys):
    _, path = checkpoint
    assert main(["predict", "--checkpoint", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"model cifar_resnet20, weights {path}" and len(lines) == 11
    assert main(["predict", "--checkpoint", str(path), "--json"]) == 0
    assert {(r["model"], r["weights"]) for r in json.loads(capsys.readouterr().out)} == {("cifar_resnet20", str(path))}


def test_cli_predict_classifies_the_images_of_a_folder_in_name_order(checkpoint, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for sample in sample_images()[:3]:
        shutil.copy(sample, images / sample.name)
    (images / "notes.txt").write_text("not an image")
    (images / "sub").mkdir()
    _, path = checkpoint
    assert main(["predict", "--checkpoint", str(path), "--json", str(images)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in out] == [str(p) for p in sorted(images.glob("*.png"))] and len(out) == 3
    assert main(["predict", "--checkpoint", str(path), str(images / "sub")]) == 1
    assert capsys.readouterr().err.startswith(f"resnet-zoo predict: error: {images / 'sub'} is a folder without "
                                              f"image files (")


def test_readme_main_job_classifies_the_samples_with_the_shipped_weights(monkeypatch, capsys):
    """`RESNET_ZOO_WEIGHTS=hub resnet-zoo predict --pretrained`: the README's first command, no network."""
    monkeypatch.setenv(WEIGHTS_ENV, str(Path(__file__).resolve().parents[1] / "hub"))
    assert main(["predict", "--pretrained", "--json", "--top-k", "1"]) == 0
    results = json.loads(capsys.readouterr().out)
    correct = [Path(r["image"]).name.startswith(r["top"][0]["label"] + "_test") for r in results]
    assert len(correct) == 10 and all(correct)  # the least sure, deer: 85 % in fp32 and in bf16
