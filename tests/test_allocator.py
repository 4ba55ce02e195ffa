"""glibc's malloc thresholds pinned: memory that a step frees serves the next step without page faults."""
import subprocess
import sys

import pytest

from resnet_zoo import allocator
from resnet_zoo.commands import cli

from shipped import HUB

STEPS = """
import resource
import torch
from resnet_zoo.allocator import keep_freed_memory
pinned = keep_freed_memory()
def step():  # 186 MiB of activations in blocks of 1 to 16 MiB, written and freed
    blocks = [torch.ones(n * 2 ** 18) for n in (1, 2, 4, 8, 16) * 6]
for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(pinned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
"""
PAGES = 186 * 2 ** 20 // 4096
"""The pages a step writes."""


def faults_per_step() -> int:
    """Minor page faults of a step after two, in a new process that pins the thresholds."""
    pinned, faults = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True,
                                    check=True).stdout.split()
    assert pinned == "True"
    return int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_pinned_thresholds_let_a_step_reuse_freed_memory():
    # with glibc's adaptive thresholds, a step faults in 30-100 % of its pages in some processes and almost none
    # in others (the heap's layout decides; about 4 in 10 here): five processes, so that a no-op fails
    assert [faults_per_step() < PAGES // 20 for _ in range(5)] == [True] * 5


@pytest.mark.parametrize("name", allocator.ENVIRONMENT)
def test_thresholds_set_in_the_environment_are_left_alone(name, monkeypatch):
    monkeypatch.setenv(name, "65536")
    assert allocator.keep_freed_memory() is False


def test_every_command_pins_the_thresholds_first(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    assert cli.main(["verify", str(HUB / "cifar_resnet20.rz_cifar10")]) == 0 and calls == [True]
