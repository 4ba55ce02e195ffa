"""Registers resnet_zoo's models in timm as soon as timm is imported, so ``import resnet_zoo`` is optional.

``resnet_zoo_autoload.pth``, installed beside this module, calls `install` at interpreter start-up; from
then on ``import timm; timm.create_model("cifar_resnet56")`` just works. Start-up pays only for this small
module: it imports nothing but `os` and `sys` (both already loaded) until timm itself is imported. It is a
module of its own, not part of ``resnet_zoo``, because importing ``resnet_zoo`` imports torch and timm.

How it works: `install` puts a `TimmImportHook` on `sys.meta_path`. When ``timm`` is first imported, the
hook takes itself off `sys.meta_path` (it fires once; `importlib.reload` and later imports see timm's plain
spec) and wraps timm's loader so that, once timm's ``__init__`` has run, `_register` imports ``resnet_zoo``.
"""
import os
import sys

DISABLE_ENV = "RESNET_ZOO_NO_AUTOLOAD"
"""Environment variable that turns the hook off when set, at start-up, to anything but ``""`` or ``"0"``."""

TRIGGER = "timm"
"""Module whose import registers resnet_zoo's models."""


def install() -> bool:
    """Put a `TimmImportHook` on `sys.meta_path` (once), unless `DISABLE_ENV` turns it off.

    Returns:
        Whether a hook is on `sys.meta_path` after the call.
    """
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return False
    if not any(isinstance(finder, TimmImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, TimmImportHook())
    return True


def uninstall() -> None:
    """Take every `TimmImportHook` off `sys.meta_path`; timm imports as if this package were not there."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, TimmImportHook)]


def _register() -> None:
    """Import ``resnet_zoo``, which registers its models in timm; a failure warns instead of raising.

    Registration is a convenience: an error in it must not break ``import timm``, so it becomes a
    `RuntimeWarning` that names the error (``import resnet_zoo`` shows the full traceback).
    """
    try:
        import resnet_zoo  # noqa: F401  (importing it is the registration)
    except Exception as e:  # noqa: BLE001  (any error: timm must still import)
        import warnings
        warnings.warn(
            f"resnet_zoo's models are not registered in timm: importing resnet_zoo failed with "
            f"{type(e).__name__}: {e} (`import resnet_zoo` shows the traceback; {DISABLE_ENV}=1 turns "
            f"this automatic registration off)", RuntimeWarning, stacklevel=3)


class TimmImportHook:
    """`sys.meta_path` finder that runs `_register` right after timm's first import has finished."""

    def find_spec(self, fullname: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        """Find timm with the other finders and wrap its loader; the hook leaves `sys.meta_path` here.

        Args:
            fullname: Name of the module being imported.
            path: Parent package's ``__path__`` (unused: timm is top-level).
            target: Module being reloaded (unused: the hook is gone before any reload).

        Returns:
            For timm, its spec, whose loader calls `_register` after running timm's ``__init__``;
            ``None`` for every other module, so that the next finder handles it.
        """
        if fullname != TRIGGER:
            return None
        uninstall()
        from importlib.util import find_spec
        spec = find_spec(fullname)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


class _RegisterAfterExec:
    """Loader that runs ``loader``, puts it back on the module, then calls `_register`."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def exec_module(self, module) -> None:
        try:
            self.loader.exec_module(module)
        finally:
            module.__loader__ = module.__spec__.loader = self.loader
        _register()
