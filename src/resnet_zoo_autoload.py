"""Registers resnet_zoo's models in timm once both are imported, whichever import comes first.

Registration is importing `resnet_zoo.resnet`, whose ``@register_model`` functions fill timm's registry. Two
things ask for it (`request`): ``import resnet_zoo`` (the package imports neither torch nor timm itself) and,
unless `DISABLE_ENV` turns it off, ``resnet_zoo_autoload.pth``, installed beside this module, at interpreter
start-up, so that ``import timm; timm.create_model("cifar_resnet56")`` works without ``import resnet_zoo``.

It runs once timm is imported and no import of timm or of a resnet_zoo module is in progress: right after the
outermost such import, never in the middle of one. A resnet_zoo module that is the first to import timm
(``resnet_zoo.blocks``; ``resnet_zoo.hub`` through ``resnet_zoo.pretrained``) is half-initialised when timm's
import ends, and `resnet_zoo.resnet` cannot import from it yet; by the time no import is in progress, that
module and whatever imported it are done.

How: `request` puts an `ImportHook` on `sys.meta_path`, at start-up or at the end of the package's
``__init__``, so before any resnet_zoo module starts. The hook wraps the loaders of timm and of resnet_zoo's
modules to count the imports in progress; when the count drops to 0 with timm imported, it leaves
`sys.meta_path` (later imports see plain loaders) and registers. This module imports nothing but `os` and
`sys` (both already loaded), so start-up pays next to nothing.
"""
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Sequence

DISABLE_ENV = "RESNET_ZOO_NO_AUTOLOAD"
"""Environment variable that turns the autoload off when set, at start-up, to anything but ``""`` or ``"0"``."""

TRIGGER = "timm"
"""Module whose import registers resnet_zoo's models."""

PACKAGE = "resnet_zoo"
"""Package whose modules' imports are waited for."""

REGISTRY_MODULE = "resnet_zoo.resnet"
"""Module whose import is the registration."""

_importing = 0
"""Imports of `TRIGGER` or of `PACKAGE`'s modules in progress, nested ones included."""

_registered = False
"""Whether registration has run (once, even if it failed)."""


def install() -> bool:
    """The autoload: `request` registration, unless `DISABLE_ENV` turns it off (called by the .pth).

    Returns:
        Whether registration was requested.
    """
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return False
    request()
    return True


def request() -> None:
    """Register resnet_zoo's models now if timm is imported and no import is in progress, else once that holds.

    ``import resnet_zoo`` calls this, whatever `DISABLE_ENV` says.
    """
    if not _registered and not any(isinstance(finder, ImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, ImportHook())
    _register_when_ready()


def _register_when_ready() -> None:
    """Register, once, if timm is imported and no import of timm or resnet_zoo is in progress.

    Registration is a convenience: an error in it must not break ``import timm``, so it becomes a
    `RuntimeWarning` that names the error (``import resnet_zoo.resnet`` shows the full traceback).
    """
    global _registered
    if _registered or _importing or TRIGGER not in sys.modules:
        return
    _registered = True
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, ImportHook)]
    try:
        __import__(REGISTRY_MODULE)
    except Exception as e:  # noqa: BLE001  (any error: timm must still import)
        import warnings
        warnings.warn(
            f"resnet_zoo's models are not registered in timm: importing {REGISTRY_MODULE} failed with "
            f"{type(e).__name__}: {e} (`import {REGISTRY_MODULE}` shows the traceback; {DISABLE_ENV}=1 turns "
            f"the automatic registration off)", RuntimeWarning)


class ImportHook:
    """`sys.meta_path` finder that has the imports of timm and of resnet_zoo's modules counted."""

    def find_spec(self, fullname: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        """Find timm and resnet_zoo's modules with the other finders, and have their imports counted.

        Args:
            fullname: Name of the module being imported.
            path: Parent package's ``__path__``, passed on.
            target: Module being reloaded, passed on.

        Returns:
            The spec the other finders give, with a counting loader; ``None`` for every other module, so
            that the next finder handles it.
        """
        if fullname != TRIGGER and fullname.partition(".")[0] != PACKAGE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _CountingLoader(spec.loader)
                return spec
        return None


class _CountingLoader:
    """Runs ``loader`` as one import in progress, puts it back on the module, then registers when ready."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def exec_module(self, module) -> None:
        global _importing
        _importing += 1
        try:
            self.loader.exec_module(module)
        finally:
            _importing -= 1
            module.__loader__ = module.__spec__.loader = self.loader
            _register_when_ready()
