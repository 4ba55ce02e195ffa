"""Bad input to every command, as a new user types it: exit status 1 (2 for argparse's usage errors), one line on
stderr that names the file or option, no traceback, nothing written. Each row is a case tried by hand first."""
import os
import re
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from resnet_zoo.cli import main

TRAIN = ["train", "--model", "cifar_resnet20", "--data", "data", "--out", "run"]
CONVERT = ["convert", "--model", "cifar_resnet20", "--tag", "x"]


def _files(folder: Path) -> None:
    """The inputs the cases name: junk of several kinds, a pickled module, an empty folder."""
    (folder / "data").mkdir()
    (folder / "text.pth").write_text("hello\n")  # KeyError: 101 inside torch.load once
    (folder / "random.bin").write_bytes(os.urandom(3000))
    (folder / "empty.pth").write_bytes(b"")
    with zipfile.ZipFile(folder / "zip.pth", "w") as archive:
        archive.writestr("a.txt", "not torch")
    torch.save(torch.nn.Linear(2, 2), folder / "module.pth")


NOT_A_CHECKPOINT = r"{}: not a PyTorch checkpoint \(a torch\.save file of tensors, or \.safetensors\)$"
CASES: Dict[str, tuple] = {
    # predict
    "predict unknown model": (["predict", "--model", "nosuch", "--pretrained", "x.png"], 1,
                              r"'nosuch' is not a resnet-zoo model; the CIFAR ones: cifar_resnet20, "),
    "predict junk checkpoint": (["predict", "--model", "cifar_resnet20", "--checkpoint", "random.bin", "x.png"], 1,
                                r"random\.bin: not a readable safetensors file"),
    "predict missing checkpoint": (["predict", "--model", "cifar_resnet20", "--checkpoint", "gone.safetensors",
                                    "x.png"], 1, r"gone\.safetensors: no such file or folder$"),
    "predict top-k 0": (["predict", "--model", "cifar_resnet20", "--checkpoint", "random.bin", "--top-k", "0",
                         "x.png"], 1, r"--top-k must be at least 1, got 0$"),
    "predict no weights": (["predict", "--model", "cifar_resnet20", "x.png"], 1, r"give --pretrained or --checkpoint"),
    # validate
    "validate missing data folder": (["validate", "--model", "cifar_resnet20", "--pretrained", "--data", "gone"], 1,
                                     r"gone: folder does not exist$"),
    "validate data is a file": (["validate", "--model", "cifar_resnet20", "--pretrained", "--data", "text.pth"], 1,
                                r"text\.pth: not a folder$"),
    "validate junk checkpoint": (["validate", "--model", "cifar_resnet20", "--checkpoint", "text.pth", "--data",
                                  "data"], 1, r"text\.pth: not a readable safetensors file"),
    "validate unknown model": (["validate", "--model", "nosuch", "--checkpoint", "text.pth", "--data", "data"], 1,
                               r"'nosuch' is not a resnet-zoo model"),
    "validate no weights": (["validate", "--model", "cifar_resnet20", "--data", "data"], 2,
                            r"one of the arguments --pretrained --checkpoint is required$"),
    # train
    "train missing data folder": ([*TRAIN[:4], "gone", *TRAIN[5:]], 1, r"gone: folder does not exist$"),
    "train unknown model": ([TRAIN[0], "--model", "nosuch", *TRAIN[3:]], 1, r"'nosuch' is not a resnet-zoo model"),
    "train 0 epochs": ([*TRAIN, "--epochs", "0"], 1, r"--epochs must be at least 1"),
    "train negative lr": ([*TRAIN, "--lr", "-1"], 1, r"--lr must be positive$"),
    "train warmup past the end": ([*TRAIN, "--epochs", "3", "--warmup-epochs", "3"], 1,
                                  r"--warmup-epochs must lie in \[0, --epochs\)$"),
    "train resume nothing": ([*TRAIN, "--resume"], 1, r"--resume: there is no run/checkpoint\.safetensors"),
    "train unknown precision": ([*TRAIN, "--precision", "fp16"], 2, r"argument --precision: invalid choice"),
    # convert
    "convert text file": ([CONVERT[0], "text.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"text\.pth")),
    "convert random bytes": ([CONVERT[0], "random.bin", "out", *CONVERT[1:]], 1,
                             NOT_A_CHECKPOINT.format(r"random\.bin")),
    "convert empty file": ([CONVERT[0], "empty.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"empty\.pth")),
    "convert foreign zip": ([CONVERT[0], "zip.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"zip\.pth")),
    "convert pickled module": ([CONVERT[0], "module.pth", "out", *CONVERT[1:]], 1,
                               r"module\.pth: refused: it holds Python objects \(torch\.nn\.modules\.linear\.Linear\)"),
    "convert missing file": ([CONVERT[0], "gone.pth", "out", *CONVERT[1:]], 1, r"gone\.pth: no such checkpoint file$"),
    # verify
    "verify missing folder": (["verify", "gone"], 1, r"gone: not a folder$"),
    "verify folder without config": (["verify", "data"], 1, r"data/config\.json: not a readable JSON file"),
}


@pytest.mark.parametrize("argv, status, message", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, argv: List[str], status: int,
                                                  message: str):
    _files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == status
    assert "Traceback" not in "\n".join(err) and "weights_only=False" not in "\n".join(err)
    if status == 1:
        assert len(err) == 1, err
    assert re.search(message, err[-1]), err[-1]
    assert sorted(tmp_path.rglob("*")) == before  # no run folder, no export, no partial file
