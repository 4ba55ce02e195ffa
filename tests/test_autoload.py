"""``import timm`` alone registers resnet_zoo's models: the start-up hook of ``resnet_zoo_autoload.pth``.

Every check runs in a fresh interpreter of a virtual environment that holds the wheel built from this
checkout or an editable install of it, both made by pip with the project's build backend. The venvs see the
already-installed torch and timm through a plain path entry, so the .pth files of those site-packages (the
editable install of this checkout among them) do not run: only the venv's own .pth can install the hook.
"""
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import timm
import torch

import resnet_zoo  # noqa: F401  (registers the model this process exports)
import resnet_zoo_autoload
from resnet_zoo.pretrained import CIFAR10_TAG, hub_id
from resnet_zoo.resnet import CIFAR_MODELS, IMAGENET_MODELS

REPO = Path(__file__).resolve().parents[1]
PTH = "resnet_zoo_autoload.pth"
CIFAR_RESNET56_PARAMS = 855_770
HOOKED = "any(type(f).__module__ == 'resnet_zoo_autoload' for f in sys.meta_path)"
"""Python expression: is a hook on ``sys.meta_path``."""


class Venv:
    """A virtual environment with resnet-zoo installed, running Python code in fresh interpreters."""

    def __init__(self, root: Path, package_dir: Optional[Path] = None):
        self.root = root
        self.python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        self.purelib = Path(self.run("import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
        self.package_dir = package_dir or self.purelib
        """Folder that ``resnet_zoo`` and ``resnet_zoo_autoload`` must be imported from."""

    def run(self, code: str, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
        """Run ``code`` with ``args``; asserts it succeeds. The cwd is the venv, so the checkout is not on the path."""
        full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", resnet_zoo_autoload.DISABLE_ENV)}
        proc = subprocess.run([str(self.python), "-c", code, *args], cwd=self.root, env={**full_env, **(env or {})},
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc

    def run_json(self, code: str, *args: str, env: Optional[Dict[str, str]] = None):
        """Run ``code``, which prints a JSON value on its last line, and return that value."""
        return json.loads(self.run(code, *args, env=env).stdout.splitlines()[-1])


def _pip(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _outer_site_dirs() -> List[str]:
    """This interpreter's site-packages (torch, timm, the build backend)."""
    dirs = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    return [d for d in dirs if os.path.isdir(d)]


def _make_venv(root: Path, *pip_install_args: str, package_dir: Optional[Path] = None) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    venv = Venv(root, package_dir)
    (venv.purelib / "outer_site_packages.pth").write_text("\n".join(_outer_site_dirs()) + "\n")
    _pip("--python", str(venv.python), "install", "--no-deps", "--no-index", "--ignore-installed", *pip_install_args)
    return venv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built by pip with the project's build backend."""
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(REPO))
    (path,) = out.glob("resnet_zoo-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory, wheel) -> Venv:
    """A venv holding the wheel."""
    return _make_venv(tmp_path_factory.mktemp("venv-wheel"), str(wheel))


@pytest.fixture(scope="module")
def editable_venv(tmp_path_factory) -> Venv:
    """A venv holding an editable install of the checkout (``pip install -e``)."""
    return _make_venv(tmp_path_factory.mktemp("venv-editable"), "--no-build-isolation", "-e", str(REPO),
                      package_dir=REPO / "src")


@pytest.fixture(params=["wheel_venv", "editable_venv"])
def venv(request) -> Venv:
    """Each of the two installs, for what depends on how the package was installed."""
    return request.getfixturevalue(request.param)


def test_wheel_root_holds_the_pth_and_its_module(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        pth = zf.read(PTH).decode()
    assert {PTH, "resnet_zoo_autoload.py", "resnet_zoo/__init__.py", "resnet_zoo/resnet.py"} <= names
    assert pth == (REPO / "src" / PTH).read_text() == "import resnet_zoo_autoload; resnet_zoo_autoload.install()\n"


def test_startup_installs_the_hook_and_imports_nothing_heavy(venv):
    assert (venv.purelib / PTH).read_text() == (REPO / "src" / PTH).read_text()
    state = venv.run_json(
        "import json, sys\n"
        f"print(json.dumps(dict(hooked={HOOKED}, autoload=sys.modules['resnet_zoo_autoload'].__file__,\n"
        "    loaded=[m for m in ('torch', 'timm', 'resnet_zoo') if m in sys.modules])))")
    assert state == dict(hooked=True, autoload=str(venv.package_dir / "resnet_zoo_autoload.py"), loaded=[])


def test_import_timm_registers_the_models(venv):
    state = venv.run_json(
        "import importlib, json, sys, warnings; warnings.simplefilter('error')\n"
        "import timm\n"
        "model = timm.create_model('cifar_resnet56')\n"
        f"after_import = dict(hooked={HOOKED}, timm_loader=type(timm.__loader__).__name__,\n"
        "    package=sys.modules['resnet_zoo'].__file__, cifar=timm.list_models('cifar_*'),\n"
        "    zoo=timm.list_models('zoo_*'), model=f'{type(model).__module__}.{type(model).__name__}',\n"
        "    params=sum(p.numel() for p in model.parameters()))\n"
        "importlib.reload(timm)\n"
        f"after_reload = dict(hooked={HOOKED}, cifar=timm.list_models('cifar_*'))\n"
        "print(json.dumps(dict(after_import=after_import, after_reload=after_reload)))")
    assert state["after_import"] == dict(
        hooked=False,  # fired once, then left sys.meta_path
        timm_loader="SourceFileLoader",  # the hook's loader wrapper is gone once timm has run
        package=str(venv.package_dir / "resnet_zoo" / "__init__.py"),
        cifar=list(CIFAR_MODELS), zoo=list(IMAGENET_MODELS),
        model="resnet_zoo.resnet.ResNet", params=CIFAR_RESNET56_PARAMS)
    # a reload runs timm's own loader again: the models stay, nothing re-registers (which would raise)
    assert state["after_reload"] == dict(hooked=False, cifar=list(CIFAR_MODELS))


@pytest.mark.parametrize("value, hooked", [("1", False), ("true", False), ("0", True), ("", True)])
def test_disable_env_values(wheel_venv, value, hooked):
    code = f"import json, sys; print(json.dumps({HOOKED}))"
    assert wheel_venv.run_json(code, env={resnet_zoo_autoload.DISABLE_ENV: value}) is hooked


def test_disabled_hook_leaves_registration_to_import_resnet_zoo(wheel_venv):
    state = wheel_venv.run_json(
        "import json, sys, timm\n"
        "before = dict(zoo='resnet_zoo' in sys.modules, registered=timm.is_model('cifar_resnet56'))\n"
        "import resnet_zoo\n"
        "print(json.dumps(dict(before=before, after=timm.is_model('cifar_resnet56'))))",
        env={resnet_zoo_autoload.DISABLE_ENV: "1"})
    assert state == dict(before=dict(zoo=False, registered=False), after=True)


def test_failing_registration_warns_once_and_timm_still_works(wheel_venv, tmp_path):
    """A resnet_zoo that fails to import (here a broken one ahead on the path) must not break timm."""
    (tmp_path / "resnet_zoo").mkdir()
    (tmp_path / "resnet_zoo" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    proc = wheel_venv.run(
        "import importlib, json, sys, timm\n"
        "importlib.reload(timm)\n"
        "import timm.models\n"
        f"print(json.dumps(dict(hooked={HOOKED}, registered=timm.is_model('cifar_resnet56'),\n"
        "    model=type(timm.create_model('resnet18')).__name__)))",
        env={"PYTHONPATH": str(tmp_path)})
    assert json.loads(proc.stdout) == dict(hooked=False, registered=False, model="ResNet")
    warning = "RuntimeWarning: resnet_zoo's models are not registered in timm: importing resnet_zoo.resnet failed " \
              "with ImportError: broken on purpose"
    assert proc.stderr.count(warning) == 1


def test_import_resnet_zoo_before_timm_registers_once(wheel_venv):
    """Both the start-up hook and ``import resnet_zoo`` ask for registration: it runs once, when timm is imported."""
    state = wheel_venv.run_json(
        "import json, sys, warnings; warnings.simplefilter('error')\n"
        "import resnet_zoo, timm\n"
        f"print(json.dumps(dict(hooked={HOOKED}, cifar=timm.list_models('cifar_*'))))")
    assert state == dict(hooked=False, cifar=list(CIFAR_MODELS))


def _hub_cache_snapshot(hf_home: Path, repo_id: str) -> Path:
    """Folder of ``repo_id``'s ``main`` snapshot in huggingface_hub's cache layout under ``hf_home``."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_pretrained_names_resolve_without_import_resnet_zoo(wheel_venv, tmp_path):
    """The registry name, and ``hf-hub:``/``local-dir:`` names whose config names a resnet_zoo architecture."""
    torch.manual_seed(0)
    folder = tmp_path / "cifar_resnet20"
    timm.models.save_for_hf(timm.create_model("cifar_resnet20"), str(folder), safe_serialization=True)
    assert json.loads((folder / "config.json").read_text())["architecture"] == "cifar_resnet20"
    repo_id = hub_id("cifar_resnet20", CIFAR10_TAG)
    shutil.copytree(folder, _hub_cache_snapshot(tmp_path / "hf_home", repo_id))
    names = ["cifar_resnet20", f"hf-hub:{repo_id}", f"local-dir:{folder}"]
    state = wheel_venv.run_json(
        "import json, sys, timm, torch\n"
        "from safetensors.torch import load_file\n"
        "saved, loaded = load_file(sys.argv[1]), {}\n"
        "for name in sys.argv[2:]:\n"
        "    model = timm.create_model(name, pretrained=True)\n"
        "    sd = model.state_dict()\n"
        "    same = sd.keys() == saved.keys() and all(torch.equal(sd[k], v) for k, v in saved.items())\n"
        "    loaded[name] = [type(model).__name__, same]\n"
        "print(json.dumps(loaded))",
        str(folder / "model.safetensors"), *names,
        env={"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"})
    assert state == {name: ["ResNet", True] for name in names}
