"""Bad input to every command, as a new user types it: exit status 1 (2 for argparse's usage errors), one line on
stderr that names the file or option, no traceback, nothing written. Each row is a case tried by hand first; the
cases that need more than `_files` (a folder that cannot be read or written, Ctrl-C) have their own tests below."""
import errno
import os
import re
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
import timm
import torch
from safetensors.torch import save_file

import resnet_zoo.files
import resnet_zoo.run
import resnet_zoo.weights
from resnet_zoo.checkpoint import EMA_PREFIX, MODEL_PREFIX, add_prefix, save_checkpoint
from resnet_zoo.commands.cli import DEBUG_ENV, describe_os_error, main
from resnet_zoo.constants import CHECKPOINT_FILE

from fake_cifar import write_cifar

TRAIN = ["train", "--model", "cifar_resnet20", "--data", "data", "--out", "run"]
CONVERT = ["convert", "--model", "cifar_resnet20", "--tag", "x"]
CONVERT_WEIGHTS = ["convert", "weights.safetensors", "out", "--model", "cifar_resnet20", "--tag", "x"]
EXPORT = ["export", "weights.safetensors", "out", "--model", "cifar_resnet20", "--tag", "x"]
VALIDATE = ["validate", "--model", "cifar_resnet20", "--checkpoint", "random.bin", "--data", "data"]
PREDICT = ["predict", "--model", "cifar_resnet20", "--checkpoint", "weights.safetensors"]


def _files(folder: Path) -> None:
    """The inputs the cases name: junk of several kinds, a pickled module, an empty folder, JSON that is not a
    recipe, a model folder with a broken config.json, the weights of a cifar_resnet20 and a training checkpoint of
    one."""
    (folder / "data").mkdir()
    (folder / "text.pth").write_text("hello\n")  # KeyError: 101 inside torch.load once
    (folder / "random.bin").write_bytes(os.urandom(3000))
    (folder / "empty.pth").write_bytes(b"")
    with zipfile.ZipFile(folder / "zip.pth", "w") as archive:
        archive.writestr("a.txt", "not torch")
    torch.save(torch.nn.Linear(2, 2), folder / "module.pth")
    torch.save(torch.nn.Linear(2, 2).state_dict(), folder / "legacy.pth", _use_new_zipfile_serialization=False)
    (folder / "array.json").write_text("[1]\n")
    (folder / "banana.json").write_text('{"lr": "banana", "schedule": "cosine"}\n')
    (folder / "broken").mkdir()
    (folder / "broken" / "config.json").write_text("{oops\n")
    weights = timm.create_model("cifar_resnet20").state_dict()
    save_file(weights, folder / "weights.safetensors")
    ema = {k: v.clone() for k, v in weights.items()}
    save_checkpoint(folder / "run.safetensors", {**add_prefix(MODEL_PREFIX, weights), **add_prefix(EMA_PREFIX, ema)},
                    dict(epoch=1))


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
    "predict top-k above the classes": ([*PREDICT, "--top-k", "11", "x.png"], 1,
                                        r"--top-k 11: the model has only 10 classes; give at most 10$"),
    "predict broken config.json": ([*PREDICT[:3], "--checkpoint", "broken", "x.png"], 1,
                                   r"^resnet-zoo predict: error: broken/config\.json: not a readable JSON file \("),
    "predict checkpoint of another depth": (["predict", "--model", "cifar_resnet56", "--checkpoint", "run.safetensors",
                                             "x.png"], 1, r"error: run\.safetensors does not fit cifar_resnet56: 216 "
                                                          r"missing keys: layer1\.3\.conv1\.weight, .* \(210 more\)$"),
    # validate
    "validate missing data folder": (["validate", "--model", "cifar_resnet20", "--pretrained", "--data", "gone"], 1,
                                     r"gone: folder does not exist$"),
    "validate data is a file": (["validate", "--model", "cifar_resnet20", "--pretrained", "--data", "text.pth"], 1,
                                r"text\.pth: not a folder$"),
    "validate junk checkpoint": (["validate", "--model", "cifar_resnet20", "--checkpoint", "text.pth", "--data",
                                  "data"], 1, r"text\.pth: not a readable safetensors file"),
    "validate torch.save checkpoint": (["validate", "--model", "cifar_resnet20", "--checkpoint", "module.pth",
                                        "--data", "data"], 1,
                                       r"module\.pth: a torch\.save checkpoint, not a safetensors file; convert it "
                                       r"with `resnet-zoo convert`$"),
    "validate legacy torch.save checkpoint": (["validate", "--model", "cifar_resnet20", "--checkpoint", "legacy.pth",
                                               "--data", "data"], 1, r"legacy\.pth: a torch\.save checkpoint, not "),
    "validate foreign zip": (["validate", "--model", "cifar_resnet20", "--checkpoint", "zip.pth", "--data", "data"],
                             1, r"zip\.pth: not a readable safetensors file, truncated or corrupt"),
    "validate unknown model": (["validate", "--model", "nosuch", "--checkpoint", "text.pth", "--data", "data"], 1,
                               r"'nosuch' is not a resnet-zoo model"),
    "validate no weights": (["validate", "--model", "cifar_resnet20", "--data", "data"], 2,
                            r"one of the arguments --pretrained --checkpoint is required$"),
    "validate batch size 0": ([*VALIDATE, "--batch-size", "0"], 1, r"error: --batch-size must be at least 1, got 0$"),
    "validate negative batch size": ([*VALIDATE, "--batch-size", "-4"], 1, r"--batch-size must be at least 1, got -4$"),
    "validate subset 0": ([*VALIDATE, "--subset", "0"], 1, r"error: --subset must be at least 1, got 0$"),
    "validate negative workers": ([*VALIDATE, "--workers", "-1"], 1,
                                  r"error: --workers must be 0 or more \(0: decode in the main process\), got -1$"),
    "validate broken config.json": ([*VALIDATE[:3], "--checkpoint", "broken", *VALIDATE[5:]], 1,
                                    r"error: broken/config\.json: not a readable JSON file \(Expecting property"),
    "validate checkpoint of another depth": (["validate", "--model", "cifar_resnet56", "--checkpoint",
                                              "run.safetensors", "--data", "data"], 1,
                                             r"error: run\.safetensors does not fit cifar_resnet56: 216 missing "
                                             r"keys: "),
    # train
    "train missing data folder": ([*TRAIN[:4], "gone", *TRAIN[5:]], 1, r"gone: folder does not exist$"),
    "train unknown model": ([TRAIN[0], "--model", "nosuch", *TRAIN[3:]], 1, r"'nosuch' is not a resnet-zoo model"),
    "train 0 epochs": ([*TRAIN, "--epochs", "0"], 1, r"--epochs must be at least 1"),
    "train negative lr": ([*TRAIN, "--lr", "-1"], 1, r"--lr must be positive$"),
    "train warmup past the end": ([*TRAIN, "--epochs", "3", "--warmup-epochs", "3"], 1,
                                  r"--warmup-epochs must lie in \[0, --epochs\)$"),
    "train resume nothing": ([*TRAIN, "--resume"], 1, r"--resume: there is no run/checkpoint\.safetensors"),
    "train unknown precision": ([*TRAIN, "--precision", "fp16"], 2, r"argument --precision: invalid choice"),
    "train bad tag": ([*TRAIN, "--tag", "bad tag"], 1,
                      r"error: tag 'bad tag' must be letters, digits and underscores, e.g. 'rz_cifar10' \(--tag\)$"),
    "train out is a file": ([*TRAIN[:-1], "text.pth"], 1, r"error: --out text\.pth: is a file; give a folder$"),
    "train out inside a file": ([*TRAIN[:-1], "text.pth/sub"], 1,
                                r"error: --out text\.pth/sub: lies inside the file text\.pth; give a folder$"),
    "train infinite lr": ([*TRAIN, "--lr", "inf"], 1, r"error: --lr must be a finite number, got inf$"),
    "train nan momentum": ([*TRAIN, "--momentum", "nan"], 1, r"error: --momentum must be a finite number, got nan$"),
    "train infinite wd and nan decays": ([*TRAIN, "--wd", "inf", "--label-smoothing", "nan", "--ema-decay=-inf"], 1,
                                         r"error: --wd must be a finite number, got inf; --label-smoothing must be a "
                                         r"finite number, got nan; --ema-decay must be a finite number, got -inf$"),
    "train cutout past the image": ([*TRAIN, "--cutout", "100"], 1,
                                    r"error: --cutout must be at most 32, the side of a CIFAR image$"),
    "train negative workers": ([*TRAIN, "--workers", "-1"], 1,
                               r"error: --workers must be 0 or more \(0: decode in the main process\), got -1$"),
    # convert
    "convert text file": ([CONVERT[0], "text.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"text\.pth")),
    "convert random bytes": ([CONVERT[0], "random.bin", "out", *CONVERT[1:]], 1,
                             NOT_A_CHECKPOINT.format(r"random\.bin")),
    "convert empty file": ([CONVERT[0], "empty.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"empty\.pth")),
    "convert foreign zip": ([CONVERT[0], "zip.pth", "out", *CONVERT[1:]], 1, NOT_A_CHECKPOINT.format(r"zip\.pth")),
    "convert pickled module": ([CONVERT[0], "module.pth", "out", *CONVERT[1:]], 1,
                               r"module\.pth: refused: it holds Python objects \(torch\.nn\.modules\.linear\.Linear\)"),
    "convert missing file": ([CONVERT[0], "gone.pth", "out", *CONVERT[1:]], 1, r"gone\.pth: no such checkpoint file$"),
    "convert percentages out of range": ([*CONVERT_WEIGHTS, "--dataset", "cifar10", "--top1", "150", "--top5", "-3"], 1,
                                         r"error: metrics top1 and top5 \(--top1, --top5\) must be percentages in "
                                         r"\[0, 100\], loss \(--loss\) at least 0; got "
                                         r"\{'top1': 150\.0, 'top5': -3\.0\}$"),
    "convert negative loss": ([*CONVERT_WEIGHTS, "--dataset", "cifar10", "--top1", "90", "--top5", "99", "--loss",
                               "-1"], 1, r"must be percentages in \[0, 100\], loss \(--loss\) at least 0; got "),
    "convert source top-1 out of range": ([*CONVERT_WEIGHTS, "--source-top1", "101"], 1,
                                          r"error: source_top1 \(--source-top1\) must be a percentage in \[0, 100\], "
                                          r"got 101\.0$"),
    "convert negative wall time": ([*CONVERT_WEIGHTS, "--wall-time-s", "-5"], 1,
                                   r"error: wall_time_s \(--wall-time-s\) must be a number of seconds, at least 0; "
                                   r"got -5\.0$"),
    "convert shard size 0": ([*CONVERT_WEIGHTS, "--max-shard-size", "0"], 1,
                             r"error: max_shard_size '0' \(--max-shard-size\) must be a size above 0 with a unit: KB, "
                             r"MB, GB or TB, e.g. '10MB'$"),
    "convert shard size 0MB": ([*CONVERT_WEIGHTS, "--max-shard-size", "0MB"], 1, r"max_shard_size '0MB' \("),
    "convert std 0": ([*CONVERT_WEIGHTS, "--std", "0", "0", "0"], 1,
                      r"error: pretrained_cfg mean and std must be finite numbers, std above 0 \(inputs are divided "
                      r"by it\); got std \[0\.0, 0\.0, 0\.0\]$"),
    "convert negative std": ([*CONVERT_WEIGHTS, "--std", "0.2", "-1", "0.2"], 1,
                             r"std above 0 \(inputs are divided by it\); got std \[0\.2, -1\.0, 0\.2\]$"),
    "convert recipe not an object": ([*CONVERT_WEIGHTS, "--recipe", "array.json"], 1,
                                     r'error: --recipe array\.json: must hold a JSON object of hyper-parameters, e.g. '
                                     r'\{"lr": 0\.1\}, not \[1\]$'),
    "convert recipe of a word for lr": ([*CONVERT_WEIGHTS, "--recipe", "banana.json"], 1,
                                        r'error: --recipe banana\.json: lr must be a number or null, not "banana"$'),
    "convert train log of random bytes": ([*CONVERT_WEIGHTS, "--train-log", "random.bin"], 1,
                                          r"error: training log random\.bin: not a text file \(UTF-8 JSON lines"),
    "convert licence of random bytes": ([*CONVERT_WEIGHTS, "--license", "mit", "--license-file", "random.bin"], 1,
                                        r"error: --license-file random\.bin: not a text file \(UTF-8\)$"),
    "convert out inside a file": ([*CONVERT_WEIGHTS[:2], "text.pth/sub", *CONVERT_WEIGHTS[3:]], 1,
                                  r"error: out text\.pth/sub: lies inside the file text\.pth; give a folder$"),
    "convert into an existing folder": ([*CONVERT_WEIGHTS[:2], "data", *CONVERT_WEIGHTS[3:]], 1,
                                        r"error: data exists; pass --overwrite to replace it, or choose another "
                                        r"folder$"),
    # export
    "export missing file": (["export", "gone.safetensors", *EXPORT[2:]], 1, r"error: gone\.safetensors: no such file$"),
    "export a folder": (["export", "data", *EXPORT[2:]], 1, r"error: data: is a folder, not a safetensors file$"),
    "export out inside a file": ([*EXPORT[:2], "text.pth/sub", *EXPORT[3:]], 1,
                                 r"error: out text\.pth/sub: lies inside the file text\.pth; give a folder$"),
    "export into an existing folder": ([*EXPORT[:2], "data", *EXPORT[3:]], 1,
                                       r"error: data exists; pass --overwrite to replace it"),
    "export checkpoint of another depth": (["export", "run.safetensors", "out", "--model", "cifar_resnet56", "--tag",
                                            "x"], 1, r"error: run\.safetensors does not fit cifar_resnet56: 216 "
                                                     r"missing keys: .* \(210 more\)$"),
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


@pytest.fixture
def files(tmp_path, monkeypatch, capsys):
    """``run(argv) -> (status, stderr lines)`` in a folder of `_files`, checked to be left as it was."""
    _files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def run(argv: List[str]) -> tuple:
        code = main(argv)
        return code, capsys.readouterr().err.strip().splitlines()

    yield run
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("error, line", [
    (PermissionError(errno.EACCES, "Permission denied", "ro/x"),
     "ro/x: Permission denied; check the permissions of it and of its folder"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "text.pth/sub"),
     "text.pth/sub: Not a directory; a part of the path is a file, not a folder"),
    (FileExistsError(errno.EEXIST, "File exists", "out"), "out: File exists; remove it or choose another path"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "data"), "data: Is a directory; it is a folder; give a file"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b"), "a -> b: Invalid cross-device link"),
])
def test_a_file_system_error_is_its_file_reason_and_remedy(error, line):
    assert describe_os_error(error) == line


def test_a_file_system_error_of_any_command_is_one_line(files, monkeypatch):
    """predict on a folder it may not list: the OSError that reaches `resnet_zoo.commands.cli.main` (monkeypatched,
    since root lists any folder)."""
    listing = Path.iterdir

    def iterdir(self):
        if self.name == "images":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    Path("images").mkdir()
    try:
        assert files([*PREDICT, "images"]) == (1, ["resnet-zoo predict: error: images: Permission denied; check the "
                                                   "permissions of it and of its folder"])
    finally:
        Path("images").rmdir()


@pytest.mark.parametrize("argv", [[*CONVERT_WEIGHTS[:2], "ro/x", *CONVERT_WEIGHTS[3:]],
                                  [*EXPORT[:2], "ro/x", *EXPORT[3:]], [*TRAIN[:-1], "ro/x"]],
                         ids=["convert", "export", "train"])
def test_a_folder_that_cannot_be_written_is_refused_before_any_work(files, monkeypatch, argv):
    """As root every folder is writable, so `os.access` answers as for a user without the right."""
    monkeypatch.setattr(resnet_zoo.files.os, "access", lambda path, mode: Path(path).name != "data")
    option = "--out" if argv[0] == "train" else "out"
    argv = [a.replace("ro/x", "data/x") for a in argv]
    assert files(argv) == (1, [f"resnet-zoo {argv[0]}: error: {option} data/x: cannot write in data (permission "
                               f"denied); choose another folder"])


def test_a_model_folder_that_cannot_be_written_is_not_replaced(files, monkeypatch):
    monkeypatch.setattr(resnet_zoo.files.os, "access", lambda path, mode: Path(path).name != "data")
    assert files([*EXPORT[:2], "data", *EXPORT[3:], "--overwrite"]) == (
        1, ["resnet-zoo export: error: out data: cannot write in data (permission denied); choose another folder"])


@pytest.mark.parametrize("argv", [[*PREDICT, "x.png"], [*VALIDATE[:4], "weights.safetensors", *VALIDATE[5:]],
                                  EXPORT], ids=["predict", "validate", "export"])
def test_a_weights_file_that_cannot_be_read_is_named_as_such(files, monkeypatch, argv):
    """Not "truncated or corrupt": safetensors reports a file it may not open as missing (FileNotFoundError), as
    monkeypatched here for root, who may open any file."""
    opening = Path.open

    def refused(file, *args, **kwargs):
        if Path(file).name == "weights.safetensors":
            raise FileNotFoundError(f"No such file or directory: {file}")
        return opening(file, *args, **kwargs)

    def denied(self, *args, **kwargs):
        if self.name == "weights.safetensors":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return opening(self, *args, **kwargs)

    monkeypatch.setattr(resnet_zoo.weights, "safe_open", refused)
    monkeypatch.setattr(resnet_zoo.weights, "load_file", refused)
    monkeypatch.setattr(Path, "open", denied)
    assert files(argv) == (1, [f"resnet-zoo {argv[0]}: error: weights.safetensors: cannot be read (Permission "
                               f"denied); check its permissions"])


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an MPS device")
@pytest.mark.parametrize("argv", [VALIDATE, TRAIN], ids=["validate", "train"])
def test_a_device_torch_cannot_use_is_refused(files, argv):
    assert files([*argv, "--device", "mps"]) == (1, [f"resnet-zoo {argv[0]}: error: --device mps: torch cannot use "
                                                     f"this device on this machine; use cpu"
                                                     f"{' or cuda' if torch.cuda.is_available() else ''}"])


@pytest.mark.parametrize("where", ["--debug after", "--debug before", f"{DEBUG_ENV}=1", f"{DEBUG_ENV}=0"])
def test_debug_prints_the_traceback_before_the_line(files, monkeypatch, where):
    argv = ["predict", "--model", "nosuch", "--pretrained", "x.png"]
    argv = {"--debug after": [*argv, "--debug"], "--debug before": ["--debug", *argv]}.get(where, argv)
    if "=" in where:
        monkeypatch.setenv(DEBUG_ENV, where.split("=")[1])
    code, err = files(argv)
    assert code == 1 and err[-1].startswith("resnet-zoo predict: error: 'nosuch' is not a resnet-zoo model")
    if where.endswith("=0"):
        assert len(err) == 1
    else:
        assert err[0] == "Traceback (most recent call last):" and "ZooError" in err[-2]


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """A fake CIFAR-10 of 16 images a batch file, and the options of a short ``train`` on it into ``run``."""
    write_cifar(tmp_path / "cifar", per_file=16)
    monkeypatch.chdir(tmp_path)
    return ["train", "--model", "cifar_resnet20", "--data", "cifar", "--out", "run", "--epochs", "1", "--subset",
            "16", "--batch-size", "16", "--test-subset", "8", "--device", "cpu"]


def test_ctrl_c_in_the_first_epoch_is_one_line_and_leaves_no_run_folder(cifar, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("resnet_zoo.run.train_one_epoch", interrupted)
    assert main(cifar) == 130
    assert capsys.readouterr().err == "resnet-zoo train: interrupted; no epoch had finished, so nothing was written\n"
    assert not Path("run").exists()


def test_ctrl_c_while_train_reads_its_options_is_one_line_without_reading_them_again(cifar, monkeypatch, capsys):
    """Say a fetch of the run state over the network: the line reports without starting it again."""
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr("resnet_zoo.commands.train.recipe_and_options", interrupted)
    assert main(cifar) == 130
    assert capsys.readouterr().err == "resnet-zoo train: interrupted; no epoch had finished, so nothing was written\n"
    assert len(calls) == 1 and not Path("run").exists()


def test_ctrl_c_after_an_epoch_says_that_resume_continues(cifar, monkeypatch, capsys):
    """Interrupted in the export that follows the last epoch's checkpoint; the resumed run then exports."""
    export_run = resnet_zoo.run.export_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(resnet_zoo.run, "export_run", interrupted)
    assert main(cifar) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"resnet-zoo train: interrupted; {Path('run') / CHECKPOINT_FILE} holds the last finished epoch: run the same "
        f"command with --resume to continue")
    monkeypatch.setattr(resnet_zoo.run, "export_run", export_run)
    assert main([*cifar, "--resume"]) == 0
    assert (Path("run") / "cifar_resnet20.rz_cifar10" / "model.safetensors").is_file()


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr("resnet_zoo.commands.cli.build_parser", interrupted)
    assert main(["train", "--help"]) == 130
    assert capsys.readouterr().err == "resnet-zoo: interrupted\n"
