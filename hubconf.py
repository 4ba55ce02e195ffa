"""torch.hub entry points: every resnet_zoo model, e.g. ``torch.hub.load(REPO, "cifar_resnet20", pretrained=True)``.

Entry point ``NAME(pretrained=False, tag=None, **kwargs)`` is ``timm.create_model("NAME.TAG", pretrained, **kwargs)``
(``"NAME"`` without a tag), so it builds the same model and loads the same weights, from the Hugging Face Hub, its
offline cache or ``$RESNET_ZOO_WEIGHTS``. The repository's own ``src/`` comes first on ``sys.path``, so the code
that torch.hub fetched is the code that runs. Module-level names other than the entry points are not callable or
start with ``_``, since ``torch.hub.list`` lists every public callable.
"""
import pathlib
import sys
import typing

dependencies = ["torch", "timm", "safetensors", "huggingface_hub"]

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "src"))

import timm  # noqa: E402
from torch import nn  # noqa: E402

from resnet_zoo.resnet import MODELS  # noqa: E402


def _entry_point(name: str):
    def create(pretrained: bool = False, tag: typing.Optional[str] = None, **kwargs: typing.Any) -> nn.Module:
        return timm.create_model(f"{name}.{tag}" if tag else name, pretrained=pretrained, **kwargs)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f'``timm.create_model("{name}.TAG" or "{name}", pretrained=pretrained, **kwargs)``.'
    return create


globals().update({name: _entry_point(name) for name in MODELS})
