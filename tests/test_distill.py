"""Knowledge distillation (``resnet-zoo train --teacher``): the loss, the ensemble teacher, and a run that distils
across sittings and says so in its card."""
import shlex
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F

from resnet_zoo.budget import Budget
from resnet_zoo.cards import TEACHER_LABEL, read_card
from resnet_zoo.checkpoint import load_checkpoint
from resnet_zoo.cifar import DeviceLoader, load_cifar
from resnet_zoo.cifar_constants import CIFAR10_CLASSES
from resnet_zoo.commands.cli import main
from resnet_zoo.distill import Teacher, describe_member, distillation_loss, load_teacher, weights_digest
from resnet_zoo.engine import TrainStep, create_optimizer
from resnet_zoo.errors import ZooError
from resnet_zoo.evaluation import evaluate
from resnet_zoo.hub import export
from resnet_zoo.recipe import DISTILL_TEMPERATURE, DISTILL_WEIGHT, Recipe
from resnet_zoo.run_state import run_state_file

from fake_cifar import write_cifar, write_pickle
from shipped import HUB

R20, R32 = HUB / "cifar_resnet20.rz_cifar10", HUB / "cifar_resnet32.rz_cifar10"
TEACHER = f"{R20},{R32}"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Fake CIFAR-10 under the real class names, which a teacher trained on CIFAR-10 knows."""
    root = write_cifar(tmp_path_factory.mktemp("data"), per_file=16)
    write_pickle(root / "cifar-10-batches-py" / "batches.meta", {"label_names": list(CIFAR10_CLASSES)})
    return root


def test_the_distillation_loss_is_hintons_kl_at_the_temperature_scaled_by_its_square():
    logits, teacher_logits = torch.randn(8, 10), torch.randn(8, 10)
    t = 3.
    p = (teacher_logits / t).softmax(1)
    expected = (p * (p.log() - (logits / t).log_softmax(1))).sum(1).mean() * t * t
    torch.testing.assert_close(distillation_loss(logits, p, t), expected)
    assert distillation_loss(teacher_logits, p, t).abs() < 1e-6  # nothing to learn from itself


def test_an_ensemble_teaches_the_mean_of_its_members_softened_probabilities_and_stays_in_eval_mode():
    members = [timm.create_model("cifar_resnet20").eval() for _ in range(2)]
    teacher = Teacher(members, ["a", "b"], temperature=2.)
    x = torch.randn(4, 3, 32, 32)
    expected = sum((m(x) / 2.).softmax(1) for m in members) / 2
    teacher.train()
    assert not any(m.training for m in teacher.modules())
    torch.testing.assert_close(teacher(x), expected)


def test_a_distilling_step_weighs_the_labels_and_the_teacher_as_the_recipe_says():
    torch.manual_seed(0)
    model = timm.create_model("cifar_resnet20")
    teacher = load_teacher(str(R20), model, temperature=4., device=torch.device("cpu"))
    recipe = Recipe(model="cifar_resnet20", batch_size=8, teacher=str(R20), precision="fp32")
    step = TrainStep(model, create_optimizer(model, recipe), None, label_smoothing=0.1, teacher=teacher,
                     distill_weight=0.7)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    with torch.no_grad():
        logits = model(images)
    expected = 0.3 * F.cross_entropy(logits, labels, label_smoothing=0.1) \
        + 0.7 * distillation_loss(logits, teacher(images), 4.)
    loss, _ = step(images, labels, lr=0., step=1)
    torch.testing.assert_close(loss, expected)


def test_a_teacher_is_named_by_its_weights_and_their_digest():
    model = timm.create_model(f"local-dir:{R20}", pretrained=True)
    digest = weights_digest(model)
    assert len(digest) == 12 and digest != weights_digest(timm.create_model("cifar_resnet20"))
    assert describe_member(str(R20), model).startswith(f"cifar_resnet20.rz_cifar10 ({R20}, commit ")
    assert describe_member(str(R20), model).endswith(f", weights sha256 {digest})")


def test_the_recipe_gives_a_teacher_its_defaults_and_nothing_to_a_run_without_one():
    plain = Recipe(model="cifar_resnet20")
    assert (plain.teacher, plain.distill_weight, plain.distill_temperature) == (None, None, None)
    taught = Recipe(model="cifar_resnet20", teacher=f" {R20} , {R32}")
    assert (taught.teacher, taught.distill_weight, taught.distill_temperature) == \
        (TEACHER, DISTILL_WEIGHT, DISTILL_TEMPERATURE)


@pytest.mark.parametrize("options, message", [
    (dict(distill_weight=0.5), "--distill-weight needs --teacher"),
    (dict(teacher=str(R20), distill_weight=0.), "--distill-weight must lie in (0, 1]"),
    (dict(teacher=str(R20), distill_temperature=-1.), "--distill-temperature must be positive"),
    (dict(teacher=f"{R20},{R20}"), "names the same weights twice"),
    (dict(teacher=f"{R20},"), "name weights separated by commas"),
])
def test_bad_distillation_options_are_one_line(options, message):
    with pytest.raises(ZooError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Recipe(model="cifar_resnet20", **options)


def test_a_run_distils_across_sittings_and_its_card_names_the_teacher(data, tmp_path, capsys):
    hub = tmp_path / "cifar_resnet20.rz_cifar10"
    argv = ["train", "--model", "cifar_resnet20", "--teacher", TEACHER, "--data", str(data), "--epochs", "2",
            "--batch-size", "16", "--device", "cpu", "--precision", "fp32", "--hub-folder", str(hub)]
    with pytest.MonkeyPatch.context() as patch:
        original = Budget.next_epoch_fits
        patch.setattr(Budget, "next_epoch_fits", lambda self: len(self.epochs) < 1 and original(self))
        assert main(argv + ["--out", str(tmp_path / "run1"), "--time-budget", "1h"]) == 0
    members = load_checkpoint(run_state_file(hub))[1]["teacher"]
    assert [m.split(" ")[0] for m in members] == ["cifar_resnet20.rz_cifar10", "cifar_resnet32.rz_cifar10"]
    assert main(["train", "--resume", str(hub), "--data", str(data), "--out", str(tmp_path / "run2"),
                 "--device", "cpu"]) == 0
    card = read_card(hub / "README.md")
    assert card.details[TEACHER_LABEL] == "; ".join(members)
    words = shlex.split(card.command)
    assert words[words.index("--teacher") + 1] == TEACHER
    assert float(words[words.index("--distill-weight") + 1]) == DISTILL_WEIGHT
    capsys.readouterr()


def test_a_run_refuses_to_continue_with_other_teacher_weights(data, tmp_path, capsys):
    teacher = export(timm.create_model("cifar_resnet20"), tmp_path / "teacher", tag="rz_cifar10")
    hub = tmp_path / "cifar_resnet20.rz_cifar10"
    argv = ["train", "--model", "cifar_resnet20", "--teacher", str(teacher), "--data", str(data), "--epochs", "2",
            "--batch-size", "16", "--device", "cpu", "--precision", "fp32", "--hub-folder", str(hub)]
    with pytest.MonkeyPatch.context() as patch:
        original = Budget.next_epoch_fits
        patch.setattr(Budget, "next_epoch_fits", lambda self: len(self.epochs) < 1 and original(self))
        assert main(argv + ["--out", str(tmp_path / "run1"), "--time-budget", "1h"]) == 0
    torch.manual_seed(1)
    export(timm.create_model("cifar_resnet20"), teacher, tag="rz_cifar10")  # newer weights under the same name
    capsys.readouterr()
    assert main(["train", "--resume", str(hub), "--data", str(data), "--out", str(tmp_path / "run2"),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resnet-zoo train: error: --resume: the teacher's weights are not the run's: ")
    assert err.count("\n") == 1 and not (tmp_path / "run2").exists()


@pytest.mark.parametrize("teacher, message", [
    ("cifar_resnet20.ak_cifar10", "mean (0.485, 0.456, 0.406), the run's"),
    ("c100", "100 classes, the run 10"),
])
def test_a_teacher_that_cannot_teach_the_run_is_one_line(teacher, message, data, tmp_path, capsys):
    source = HUB / teacher
    if teacher == "c100":
        source = export(timm.create_model("cifar_resnet20", num_classes=100), tmp_path / "c100", tag="rz_cifar100")
    assert main(["train", "--model", "cifar_resnet20", "--teacher", str(source), "--data", str(data), "--out",
                 str(tmp_path / "run"), "--batch-size", "16", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"resnet-zoo train: error: --teacher {source} cannot teach cifar_resnet20: it has ")
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_ensemble_of_the_zoos_resnet32_44_and_56_scores_above_each_of_them(cifar10_root, shipped_top1):
    names = [f"cifar_resnet{depth}.rz_cifar10" for depth in (32, 44, 56)]
    student = timm.create_model("cifar_resnet56")
    teacher = load_teacher(",".join(str(HUB / name) for name in names), student, 1., torch.device("cpu"))
    cfg = student.pretrained_cfg
    loader = DeviceLoader(load_cifar(cifar10_root, "cifar10", "test"), 500, cfg["mean"], cfg["std"],
                          channels_last=True)
    assert evaluate(teacher, loader).top1 > max(shipped_top1(name) for name in names) + 0.5
