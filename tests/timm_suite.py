"""Run timm's own model test suite (``tests/test_models.py`` of the installed timm release) on resnet_zoo's models.

timm's wheel does not ship its tests, so the matching source distribution is fetched once with pip (from the
package index) into a cache folder. The suite is collected with resnet_zoo imported and filtered to its names.
With ``RESNET_ZOO_WEIGHTS`` set (e.g. to the repository's ``hub/``) its pretrained tests run too, loading every
registered tag from that folder, without the network.

    [RESNET_ZOO_WEIGHTS=hub] python tests/timm_suite.py [--cache DIR] [extra pytest args]
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import timm

from resnet_zoo.weights import WEIGHTS_ENV

NAMES = "cifar_resnet or zoo_resnet"
"""resnet_zoo's models."""
HUB_TESTS = "load_pretrained or features_pretrained"
"""The tests that load pretrained weights, from the Hub unless ``RESNET_ZOO_WEIGHTS`` names a folder."""
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
        weights = os.environ.get(WEIGHTS_ENV)
        if weights:
            env[WEIGHTS_ENV] = str(Path(weights).resolve())  # the suite runs in run_dir
        names = NAMES if weights else f"({NAMES}) and not ({HUB_TESTS})"
        cmd = [sys.executable, "-m", "pytest", "test_models.py", "-p", "resnet_zoo_timm_plugin", "-k", names,
               "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning", *pytest_args]
        print(f"timm {timm.__version__}: {' '.join(cmd[1:])}", flush=True)
        return subprocess.run(cmd, cwd=run_dir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
