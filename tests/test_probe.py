"""``--precision auto`` where only a measurement can tell (a CPU with native bf16 but no AMX): the probe trains the
run's model for a moment in each precision, picks the faster, caches its figures per CPU and model, and the run
records them. The CPU's flags are faked to take that path; the probe itself runs for real."""
import json

import pytest
import torch

import resnet_zoo.probe
from resnet_zoo.commands.cli import main
from resnet_zoo.devices import cpu_model
from resnet_zoo.probe import Probe, cache_file, choose_precision

from fake_cifar import write_cifar

CPU = torch.device("cpu")


class Probed(Exception):
    """Raised by a stand-in for the probe's training, where no probe may train."""


def probed(*args):
    raise Probed


@pytest.fixture()
def bf16_without_amx(monkeypatch, tmp_path):
    """This CPU as one with native bf16 and no AMX, and an empty probe cache."""
    monkeypatch.setattr(resnet_zoo.probe, "fast_bf16", lambda device: False)
    monkeypatch.setattr(resnet_zoo.probe, "native_bf16", lambda device: True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_probe_measures_both_precisions_picks_the_faster_and_caches_the_figures(bf16_without_amx, monkeypatch):
    precision, probe = choose_precision("auto", CPU, "cifar_resnet20")
    assert set(probe.img_per_s) == {"fp32", "bf16"} and min(probe.img_per_s.values()) > 0
    assert precision == probe.precision == max(probe.img_per_s, key=probe.img_per_s.get) and not probe.cached
    cached = json.loads(cache_file().read_text())
    assert cached == {f"{cpu_model()}|{torch.get_num_threads()} threads|cifar_resnet20": probe.img_per_s}

    monkeypatch.setattr(resnet_zoo.probe, "_train_rate", probed)
    assert choose_precision("auto", CPU, "cifar_resnet20") == (precision, Probe(precision, probe.img_per_s, True))
    with pytest.raises(Probed):  # another model is probed anew
        choose_precision("auto", CPU, "cifar_resnet32")


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_a_precision_asked_for_is_not_probed(bf16_without_amx, monkeypatch, asked):
    monkeypatch.setattr(resnet_zoo.probe, "_train_rate", probed)
    assert choose_precision(asked, CPU, "cifar_resnet20") == (asked, None)


def test_where_a_flag_decides_auto_does_not_probe(monkeypatch):
    monkeypatch.setattr(resnet_zoo.probe, "_train_rate", probed)
    for fast, native, expected in ((True, True, "bf16"), (False, False, "fp32")):
        monkeypatch.setattr(resnet_zoo.probe, "fast_bf16", lambda device: fast)
        monkeypatch.setattr(resnet_zoo.probe, "native_bf16", lambda device: native)
        monkeypatch.setattr("resnet_zoo.precision.fast_bf16", lambda device: fast)
        assert choose_precision("auto", CPU, "cifar_resnet20") == (expected, None)


def test_an_unwritable_cache_costs_only_the_next_probe(bf16_without_amx, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    precision, probe = choose_precision("auto", CPU, "cifar_resnet20")
    assert precision == probe.precision and not probe.cached and not cache_file().exists()
    monkeypatch.setattr(resnet_zoo.probe, "_train_rate", probed)
    with pytest.raises(Probed):  # nothing was cached: the next run probes again
        choose_precision("auto", CPU, "cifar_resnet20")


@pytest.mark.parametrize("entry", [{}, [], {"fp32": 200.}, {"fp32": 200., "bf16": "fast"}, {"fp32": 0, "bf16": 9.},
                                   {"fp32": float("nan"), "bf16": 9.}])
def test_a_damaged_cache_entry_is_probed_again(bf16_without_amx, monkeypatch, entry):
    key = f"{cpu_model()}|{torch.get_num_threads()} threads|cifar_resnet20"
    cache_file().parent.mkdir(parents=True)
    cache_file().write_text(json.dumps({key: entry}))
    monkeypatch.setattr(resnet_zoo.probe, "_train_rate", probed)
    with pytest.raises(Probed):
        choose_precision("auto", CPU, "cifar_resnet20")


def test_the_run_prints_the_probe_and_its_sitting_records_it(bf16_without_amx, tmp_path, capsys):
    data = write_cifar(tmp_path / "data", per_file=16)
    hub = tmp_path / "cifar_resnet20.rz_cifar10"
    assert main(["train", "--model", "cifar_resnet20", "--data", str(data), "--epochs", "2", "--batch-size", "16",
                 "--out", str(tmp_path / "run"), "--hub-folder", str(hub), "--device", "cpu"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    probe = next(iter(json.loads(cache_file().read_text()).values()))
    choice = max(probe, key=probe.get)
    described = Probe(choice, probe).describe()
    assert first == f"--precision {choice} ({described})"
    card = (hub / "README.md").read_text()
    assert f"| {choice} ({described}) |" in card
