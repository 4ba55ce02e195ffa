"""Run timm's own model test suite (``tests/test_models.py`` of the installed timm release) on resnet_zoo's models.

timm's wheel does not ship its tests, so the matching source distribution is fetched once with pip (from the
package index) into a cache folder. The suite is collected with resnet_zoo imported and filtered to its names.

    python tests/timm_suite.py [--cache DIR] [extra pytest args]
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import timm

NAMES = "(cifar_resnet or zoo_resnet) and not load_pretrained and not features_pretrained"
"""resnet_zoo's models; the two tests that download pretrained weights from the Hub are left out (no network:
tests/test_hub_loading.py loads them through the same timm path from an offline cache)."""
PLUGIN = "import resnet_zoo  # noqa: F401  (registers the models before timm's tests are collected)\n"


def timm_test_file(cache: Path) -> Path:
    """``tests/test_models.py`` of the installed timm version, fetched from its sdist on first use."""
    version = timm.__version__
    target = cache / f"timm-{version}" / "test_models.py"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", f"timm=={version}", "--no-binary", ":all:",
                        "--no-deps", "-q", "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("timm-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = tar.getmember(f"timm-{version}/tests/test_models.py")
            data = tar.extractfile(member).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_target = target.with_suffix(".tmp")
    tmp_target.write_bytes(data)
    os.replace(tmp_target, target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "resnet-zoo" / "timm-tests")
    args, pytest_args = parser.parse_known_args()
    test_file = timm_test_file(args.cache)
    with tempfile.TemporaryDirectory() as run_dir:
        Path(run_dir, "test_models.py").write_bytes(test_file.read_bytes())
        Path(run_dir, "resnet_zoo_timm_plugin.py").write_text(PLUGIN)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [run_dir, os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, "-m", "pytest", "test_models.py", "-p", "resnet_zoo_timm_plugin", "-k", NAMES,
               "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning", *pytest_args]
        print(f"timm {timm.__version__}: {' '.join(cmd[1:])}", flush=True)
        return subprocess.run(cmd, cwd=run_dir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
