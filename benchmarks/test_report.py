"""report.py: pytest-benchmark JSON in, the docs' Markdown tables out."""
import json

import pytest
import report


def bench(model, family, task, precision, mode, median_s, fused=False, batch=512):
    """One benchmark as pytest-benchmark writes it (only the fields report.py reads, plus a few)."""
    return {"group": f"{task}-{precision}-{family}", "name": f"test_{task}[{model}]", "fullname": f"x::{model}",
            "stats": {"min": median_s * 0.9, "median": median_s, "mean": median_s, "rounds": 10},
            "extra_info": {"model": model, "family": family, "task": task, "precision": precision, "mode": mode,
                           "fused": fused, "batch": batch, "image_size": 32 if family == "cifar" else 224,
                           "device": "cuda"}}


@pytest.fixture
def results_json():
    return {
        "machine_info": {"bench_device_name": "NVIDIA H200", "torch": "2.11.0", "torchvision": "0.26.0",
                         "timm": "1.0.29", "resnet_zoo": "0.1.0"},
        "datetime": "2026-01-02T03:04:05",
        "benchmarks": [
            bench("reference_resnet56", "cifar", "inference", "fp32", "eager", 0.1024, batch=1024),
            bench("cifar_resnet56", "cifar", "inference", "fp32", "eager", 0.08, batch=1024),
            bench("cifar_resnet56", "cifar", "inference", "fp32", "compile", 0.0512, batch=1024, fused=True),
            bench("timm_resnet50", "imagenet", "train", "bf16", "eager", 0.5, batch=256),
            bench("zoo_resnet50", "imagenet", "train", "bf16", "eager", 0.25, batch=256),
        ],
    }


def test_tables_hold_images_per_second_and_ratio_to_reference(results_json):
    text = report.markdown_report(results_json)
    assert text.startswith("# Throughput on NVIDIA H200\n\ntorch 2.11.0, torchvision 0.26.0, timm 1.0.29, ")
    assert "Batch sizes: cifar inference 1024 at 32x32; imagenet train 256 at 224x224." in text
    assert ("## Inference, fp32\n\n"
            "| model | eager | compile | eager + fuse_bn | compile + fuse_bn |\n"
            "|---|---|---|---|---|\n"
            "| reference_resnet56 | 10,000 (1.00x) | – | – | – |\n"
            "| cifar_resnet56 | 12,800 (1.28x) | – | – | 20,000 (2.00x) |\n") in text
    assert ("## Training step, bf16\n\n"
            "| model | eager | compile |\n"
            "|---|---|---|\n"
            "| timm_resnet50 | 512 (1.00x) | – |\n"
            "| zoo_resnet50 | 1,024 (2.00x) | – |\n") in text
    assert "## Training step, fp32" not in text


def test_targets(results_json):
    text = report.markdown_report(results_json)
    assert "| zoo_resnet50 train, bf16, eager vs timm resnet50 | 2.00x | >= 1.0x | yes |" in text
    assert "| zoo_resnet50 inference, fp32, eager vs timm resnet50 | not measured | >= 1.0x | – |" in text
    assert ("| cifar_resnet56 inference, fp32, fuse_bn + compile vs eager reference | 2.00x | >= 1.5x | yes |"
            in text)


def test_command_writes_markdown_file(results_json, tmp_path):
    source, target = tmp_path / "h200.json", tmp_path / "h200.md"
    source.write_text(json.dumps(results_json))
    assert report.main([str(source), "-o", str(target)]) == 0
    assert target.read_text() == report.markdown_report(results_json)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h200.json", "h200.md"]


def test_json_of_disabled_run_is_an_error(tmp_path, capsys):
    source = tmp_path / "smoke.json"
    source.write_text(json.dumps({"machine_info": {}, "benchmarks": []}))
    assert report.main([str(source)]) == 1
    assert "holds no timed benchmark (was it written with --benchmark-disable?)" in capsys.readouterr().err


def test_json_of_other_benchmarks_is_an_error(results_json):
    del results_json["benchmarks"][0]["extra_info"]["fused"]
    with pytest.raises(ValueError, match=r"benchmark x::reference_resnet56 has no fused in extra_info"):
        report.load_results(results_json)


def recipe_bench(loop, median_s, steps=20, batch=512):
    """One benchmark of test_train_speed.py as pytest-benchmark writes it."""
    return {"group": report.RECIPE_GROUP, "name": f"test_train_throughput[{loop}]", "fullname": f"y::{loop}",
            "stats": {"median": median_s, "rounds": 10},
            "extra_info": {"loop": loop, "model": "cifar_resnet56", "batch": batch, "steps_per_call": steps,
                           "device": "cuda"}}


def test_training_recipe_table_and_target(results_json):
    results_json["benchmarks"] += [recipe_bench("reference", 0.5), recipe_bench("recipe", 0.2)]
    text = report.markdown_report(results_json)
    assert ("| loop | images/s | ratio to reference |\n|---|---|---|\n"
            "| reference | 20,480 | 1.00x |\n| recipe | 51,200 | 2.50x |\n") in text
    assert "| cifar_resnet56 training, recipe vs plain eager loop (bf16 + channels_last) | 2.50x | >= 2.0x | yes |" \
        in text
    assert "## Inference, fp32" in text  # the model tables stay


def test_json_of_the_training_benchmark_alone(results_json):
    results_json["benchmarks"] = [recipe_bench("reference", 0.5), recipe_bench("recipe", 0.4)]
    text = report.markdown_report(results_json)
    assert "## Training recipe vs plain loop" in text and "## Inference" not in text and "Batch sizes" not in text
    assert "| cifar_resnet56 training, recipe vs plain eager loop (bf16 + channels_last) | 1.25x | >= 2.0x | no |" \
        in text
    assert "| zoo_resnet50 train, bf16, eager vs timm resnet50 | not measured | >= 1.0x | – |" in text


def cpu_bench(model, task, loop, median_s, images=1024):
    """One ``test_cpu_speed.py`` benchmark."""
    return {"group": f"cpu-{task}-{model}", "stats": {"median": median_s},
            "extra_info": {"task": task, "model": model, "loop": loop, "images": images}}


def test_json_of_the_cpu_benchmarks_alone():
    data = {"machine_info": {"bench_device_name": "AMD EPYC (2 cores)"}, "benchmarks": [
        cpu_bench("cifar_resnet56", "inference", "fast", 1.0),
        cpu_bench("cifar_resnet56", "inference", "reference", 4.0),
        cpu_bench("cifar_resnet20", "train", "reference", 8.0), cpu_bench("cifar_resnet20", "train", "recipe", 4.0),
        cpu_bench("cifar_resnet20", "train", "step", 3.6),
    ]}
    text = report.markdown_report(data)
    assert text.startswith("# Throughput on AMD EPYC (2 cores)\n")
    assert ("| model | task | loop | against | its images/s | resnet-zoo images/s | ratio | required | met |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
            "| cifar_resnet20 | train | recipe | reference | 128 | 256 | 2.00x | >= 2.50x | no |\n"
            "| cifar_resnet20 | train | recipe | step | 284 | 256 | 0.90x | >= 0.85x | yes |\n"
            "| cifar_resnet56 | inference | fast | reference | 256 | 1,024 | 4.00x | >= 4.00x | yes |\n") in text
    assert "## Targets" not in text and "## Inference" not in text
