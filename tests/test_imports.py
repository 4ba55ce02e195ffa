"""What importing resnet_zoo costs and registers: the package and its CLI load neither torch nor timm, and the
models are registered in timm whichever of resnet_zoo's modules is imported first (see `resnet_zoo_autoload`).

Each check starts from a fresh interpreter. The first imports run in children forked from one that has imported
only torch and torchvision (the slow part, and no party to the registration): one torch import, not one a module.
"""
import ast
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest
import timm

import resnet_zoo
import resnet_zoo_autoload
from resnet_zoo import blocks, fuse, resnet
from resnet_zoo.commands.cli import COMMANDS

SRC = str(Path(resnet_zoo_autoload.__file__).parent)
MODULES = [resnet_zoo.__name__] + [info.name for info in pkgutil.walk_packages(resnet_zoo.__path__, "resnet_zoo.")]
"""Every module of the package, its sub-package `resnet_zoo.commands` included."""
COMMAND_MODULES = {name for name in MODULES if name.startswith("resnet_zoo.commands")}
"""The command line: its package, dispatcher, options and one module per command."""

FIRST_IMPORTS = """\
import importlib, json, os, sys
import torch, torchvision  # slow, and no part of the registration: imported once, before the forks
for name in sys.argv[1:]:
    read, write = os.pipe()
    if os.fork() == 0:  # a child starts with neither timm nor resnet_zoo imported
        importlib.import_module(name)
        import timm
        model = timm.create_model("cifar_resnet20")
        hooked = any(type(f).__module__ == "resnet_zoo_autoload" for f in sys.meta_path)
        os.write(write, json.dumps([type(model).__name__, timm.list_pretrained("cifar_*"), hooked]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as result:
        print(json.dumps({name: json.loads(result.read() or "null")}), flush=True)
    os.wait()
"""
"""Python code: for each module named in ``sys.argv``, a forked child imports it first, then timm, and prints
``{module: [model class, pretrained CIFAR names, hook still on sys.meta_path]}``, ``null`` if it failed."""


def run_python(code: str, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports resnet_zoo from this checkout; asserts it succeeds."""
    full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=full_env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *([name, "--help"] for name in COMMANDS)])
def test_cli_help_imports_neither_torch_nor_timm(argv):
    """``resnet-zoo --help`` and every ``resnet-zoo COMMAND --help`` answer at once: the package's names load their
    modules on first use, and a command's options import only torch-free modules (the time is benchmarked)."""
    code = ("import json, sys\n"
            "from resnet_zoo.commands.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
            "print(json.dumps(dict(status=status, loaded=[m for m in ('torch', 'timm') if m in sys.modules])))")
    proc = run_python(code, *argv)
    assert ("COMMAND" in proc.stdout) == (argv == ["--help"])
    assert (f"usage: resnet-zoo {argv[0]} " in proc.stdout) == (argv[0] in COMMANDS)
    assert json.loads(proc.stdout.splitlines()[-1]) == dict(status=0, loaded=[])


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_module_run_as_a_script_is_the_command(name):
    """``python -m resnet_zoo.commands.NAME ARGS`` is ``resnet-zoo NAME ARGS``, not a silent import."""
    module = f"resnet_zoo.commands.{name.replace('-', '_')}"
    run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC})
    assert run.returncode == 0 and run.stdout.startswith(f"usage: resnet-zoo {name} "), run.stderr


def test_the_train_module_run_as_a_script_runs_the_command():
    run = subprocess.run([sys.executable, "-m", "resnet_zoo.commands.train", "--data", "d"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == "resnet-zoo train: error: --model is required to start a run (--resume FOLDER continues " \
                         "one without it)\n"


def test_package_names_are_the_modules_own():
    """``resnet_zoo.ResNet`` and the other public names are their modules' own, and ``dir`` lists them."""
    assert (resnet_zoo.ResNet, resnet_zoo.BasicBlock, resnet_zoo.fuse_bn) == (resnet.ResNet, blocks.BasicBlock,
                                                                              fuse.fuse_bn)
    assert set(resnet_zoo.__all__) <= set(dir(resnet_zoo))
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        resnet_zoo.nothing


@pytest.mark.skipif(not hasattr(os, "fork"), reason="each first import runs in a forked child")
@pytest.mark.parametrize("autoload", ["on", pytest.param("off", marks=pytest.mark.slow)])  # ~40 s each: the
# default run checks the installed case; "off" (only ``import resnet_zoo`` hooks timm) runs with the slow tests
def test_any_module_imported_first_registers_the_models(autoload):
    """The earlier lazy package failed this for a module that was the first to import timm (``resnet_zoo.blocks``):
    registration ran while that module was half-initialised."""
    env = {resnet_zoo_autoload.DISABLE_ENV: "1" if autoload == "off" else ""}
    proc = run_python(FIRST_IMPORTS, *MODULES, env=env)
    results = {name: result for line in proc.stdout.splitlines() for name, result in json.loads(line).items()}
    pretrained = timm.list_pretrained("cifar_*")
    assert pretrained  # registered in this process too
    assert results == {name: ["ResNet", pretrained, False] for name in MODULES}, proc.stderr


def _package_imports(module: str) -> set:
    """The resnet_zoo modules that ``module``'s source imports (``from .x import``, ``import resnet_zoo.x``)."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            base = importlib.util.resolve_name(relative, spec.parent) if node.level else node.module
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names & set(MODULES)


def test_command_modules_are_leaves():
    """No module imports a command's module or the CLI: what commands share lives in the library (the CLI loads
    them by name, and only ``python -m resnet_zoo`` starts the CLI)."""
    assert {f"resnet_zoo.commands.{name.replace('-', '_')}" for name in COMMANDS} < COMMAND_MODULES
    importers = {m: sorted(_package_imports(m) & COMMAND_MODULES) for m in set(MODULES) - COMMAND_MODULES
                 if _package_imports(m) & COMMAND_MODULES}
    assert importers == {"resnet_zoo.__main__": ["resnet_zoo.commands.cli"]}
    # the parse sees relative imports, inside functions too
    assert {"resnet_zoo.hub", "resnet_zoo.constants"} <= _package_imports("resnet_zoo.commands.verify")
    assert "resnet_zoo.commands.options" in _package_imports("resnet_zoo.commands.predict")
