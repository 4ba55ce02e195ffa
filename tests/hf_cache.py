"""A real huggingface_hub cache, filled by hand, and pretrained loads from it offline in a fresh interpreter."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch
from safetensors.torch import load_file

from resnet_zoo.weights import WEIGHTS_ENV


def add_to_hf_cache(hf_home: Path, repo_id: str, folder: Path) -> None:
    """Lay ``folder`` (with its sub-folders) out as huggingface_hub's cache of ``repo_id`` after a download (blobs,
    snapshot, ref)."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for d in (repo / "blobs", snapshot, repo / "refs"):
        d.mkdir(parents=True)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, repo / "blobs" / blob)
        link = snapshot / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(*[".."] * len(link.relative_to(repo).parts[:-1]), "blobs", blob))
    (repo / "refs" / "main").write_text(commit)


# Loads each [model name, RESNET_ZOO_WEIGHTS or null] with pretrained=True in a fresh interpreter (where
# huggingface_hub reads HF_HOME and HF_HUB_OFFLINE), saving logits, or the WeightsError message.
LOAD_SCRIPT = """
import json, os, sys
import timm, torch
from safetensors.torch import save_file
from resnet_zoo.errors import WeightsError
x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
outputs, errors = {}, {}
for name, weights in json.loads(sys.argv[1]):
    os.environ.pop("RESNET_ZOO_WEIGHTS", None)
    if weights:
        os.environ["RESNET_ZOO_WEIGHTS"] = weights
    try:
        model = timm.create_model(name, pretrained=True).eval()
    except WeightsError as e:
        errors[name] = str(e)
        continue
    with torch.no_grad():
        outputs[f"{name}|{weights}"] = model(x)
    outputs[f"{name}|{weights}|file"] = torch.tensor(list(model.pretrained_cfg["file"].encode()))
save_file(outputs, sys.argv[2])
print(json.dumps(errors))
"""


def load_offline(loads: Sequence[Tuple[str, Optional[str]]], hf_home: Path,
                 out: Path) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Run `LOAD_SCRIPT` on ``loads`` with the cache ``hf_home`` and ``HF_HUB_OFFLINE=1``.

    Returns:
        ``{"name|weights": logits, "name|weights|file": the loaded file's path as bytes}`` and the errors by name.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", WEIGHTS_ENV)}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, json.dumps(loads), str(out)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return load_file(out), json.loads(run.stdout.splitlines()[-1])


def loaded_file(outputs: Dict[str, torch.Tensor], key: str) -> str:
    """The weights file a load of `load_offline` read."""
    return bytes(outputs[key + "|file"].tolist()).decode()
