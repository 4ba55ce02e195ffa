"""transformers' image-classification pipeline over the shipped model folders, offline: their ``config.json`` in
timm's layout (top-level ``label_names``) makes transformers' TimmWrapper name the classes, and its top-1 on the
bundled samples is ``resnet-zoo predict``'s."""
import json

import pytest
from transformers import pipeline

from resnet_zoo.cifar_constants import CIFAR10_CLASSES
from resnet_zoo.commands.cli import main
from resnet_zoo.inference import sample_images

from shipped import HUB


@pytest.mark.parametrize("name", ["cifar_resnet20.rz_cifar10", "cifar_resnet56.ak_cifar10"])
def test_the_pipeline_names_the_classes_and_agrees_with_predict(name, capsys):
    folder = HUB / name
    classify = pipeline("image-classification", model=str(folder))
    assert classify.model.config.id2label == dict(enumerate(json.loads((folder / "config.json").read_text())
                                                            ["label_names"]))
    images = sample_images()
    assert main(["predict", "--model", name.partition(".")[0], "--checkpoint", str(folder), "--precision", "fp32",
                 "--json", *map(str, images)]) == 0
    expected = [result["top"][0]["label"] for result in json.loads(capsys.readouterr().out)]
    assert [classify(str(image), top_k=1)[0]["label"] for image in images] == expected
    assert set(expected) <= set(CIFAR10_CLASSES)  # named, not LABEL_0
