"""Shared fixtures. Test data is found through environment variables, never at a fixed path."""
import os
from pathlib import Path

import pytest

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


def pytest_report_header(config: pytest.Config) -> str:
    """Say, above the results, where the data comes from and how the slow tests run."""
    data = os.environ.get(DATA_ENV) or "not set: the tests that need CIFAR-10 skip"
    return f"{DATA_ENV}: {data}; slow tests are deselected by default: python -m pytest -m slow runs them"
