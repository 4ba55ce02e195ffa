"""Shared fixtures. Test data is found through environment variables, never at a fixed path."""
import os
from pathlib import Path
from typing import Callable, Dict

import pytest
import timm

from shipped import HUB, cifar10_test_top1

DATA_ENV = "RESNET_ZOO_DATA"
"""Folder holding ``cifar-10-batches-py/`` (the official CIFAR-10 python layout); set by ``.ci/run``."""


@pytest.fixture(scope="session")
def cifar10_root() -> Path:
    """Root of the CIFAR-10 copy; skips (with the reason) when absent, fails in CI where it must be there."""
    root = os.environ.get(DATA_ENV)
    reason = None
    if not root:
        reason = f"{DATA_ENV} is not set; point it at a folder holding cifar-10-batches-py/ (the official " \
                 f"python archive, unpacked; `resnet-zoo validate --download --data DIR ...` fetches it into DIR)"
    elif not (Path(root) / "cifar-10-batches-py").is_dir():
        reason = f"{DATA_ENV}={root} holds no cifar-10-batches-py/ (the official python archive, unpacked)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide CIFAR-10: {reason}")
        pytest.skip(reason)
    return Path(root)


@pytest.fixture(scope="session")
def shipped_top1(cifar10_root: Path) -> Callable[[str], float]:
    """Top-1 (%) of the shipped weights ``hub/<name>/`` on the full CIFAR-10 test set, loaded by timm from the
    folder and measured by `shipped.cifar10_test_top1`; each folder once per session, for every test that needs it
    (a full pass over the test set takes seconds to minutes on a CPU)."""
    measured: Dict[str, float] = {}

    def top1(name: str) -> float:
        if name not in measured:
            measured[name] = cifar10_test_top1(timm.create_model(f"local-dir:{HUB / name}", pretrained=True),
                                               cifar10_root)
        return measured[name]

    return top1


def pytest_report_header(config: pytest.Config) -> str:
    """Say, above the results, where the data comes from and how the slow tests run."""
    data = os.environ.get(DATA_ENV) or "not set: the tests that need CIFAR-10 skip"
    return f"{DATA_ENV}: {data}; slow tests are deselected by default: python -m pytest -m slow runs them"
