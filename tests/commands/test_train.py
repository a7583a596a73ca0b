import subprocess
import sys

import pytest

from geosiam.cli import main
from tests.retrieval.factory import make_workspace


def _run(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_train_without_a_prepared_workspace_is_a_one_line_error(tmp_path, capsys):
    code, err = _run(["train", "-w", str(tmp_path)], capsys)
    assert code == 2
    assert err.startswith("geosiam: error: no geosiam.toml") and "geosiam prepare" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "message", "status"),
    [
        (["--loss", "hinge"], "'hinge' is not one of 'bce', 'contrastive', 'triplet', 'focal', 'infonce'", 2),
        (
            ["--backbone", "vgg"],
            "'vgg' is not one of 'resnet50', 'mobilenetv3small', 'efficientnetv2b0', 'auto'",
            2,
        ),
        (["--lr", "0"], "--lr must be a positive number", 2),
        (["--epochs", "0"], "--epochs must be at least 1", 2),
        (["--temperature", "0"], "--temperature must be a positive number", 2),
        (["--lr-schedule", "step"], "'step' is not one of 'constant', 'cosine'", 2),
        (["--loss", "infonce", "--batch-anchors", "4"], "too few for batches of 4 distinct places", 1),
        (["--run", "a/b"], "not a plain folder name", 2),
        (["--resume", "--run", "nope"], "no run 'nope'", 2),
        (["--mask-only", "--image-only"], "--image-only and --mask-only exclude each other", 2),
        (["--mask-dropout", "1.5"], "--mask-dropout is a probability, got 1.5", 2),
        (["--mask-dropout", "-0.1"], "--mask-dropout is a probability", 2),
        (["--labels", "old"], "'old' is not one of 'both', 'newer', 'none'", 2),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, option, message, status):
    workspace = make_workspace(tmp_path / "ws", places=4, px=32, splits=["train"] * 3 + ["val"])
    code, err = _run(["train", "-w", str(workspace.root), "--weights", "none", *option], capsys)
    assert code == status and message in err and len(err.strip().splitlines()) == 1


def test_help_lists_the_options_without_importing_keras():
    code = (
        "import sys; from geosiam.cli import main\n"
        "try: main(['train', '--help'])\nexcept SystemExit: pass\n"
        "print('keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    for option in (
        "--backbone",
        "--mask-encoding",
        "--image-only",
        "--mine-every",
        "--resume",
        "--no-mixed-precision",
        "--batch-anchors",
        "--input-px",
        "--temperature",
        "--mask-only",
        "--mask-dropout",
        "--labels",
        "--greyscale",
    ):
        assert option in done.stdout
    assert done.stdout.strip().endswith("False")


def test_an_incomplete_multi_host_setting_is_a_one_line_error_before_the_run_starts(
    tmp_path, capsys, monkeypatch
):
    workspace = make_workspace(tmp_path / "ws", places=4, px=32, splits=["train"] * 3 + ["val"])
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "10.0.0.1:1234")
    code, err = _run(["train", "-w", str(workspace.root), "--weights", "none", "--run", "r"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "needs KERAS_DISTRIBUTION_NUM_PROCESSES, KERAS_DISTRIBUTION_PROCESS_ID too" in err
    assert not workspace.run_dir("r").exists()


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_workers_that_are_neither_a_count_nor_auto_are_usage_errors(value, capsys, tmp_path):
    code, err = _run(["train", "-w", str(tmp_path), "--workers", value], capsys)
    assert code == 2 and "--workers" in err and "auto" in err and len(err.strip().splitlines()) == 1
