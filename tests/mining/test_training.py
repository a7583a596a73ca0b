"""One small real training (MobileNetV3Small, 32 px, 2 epochs, infonce) shared by the tests of a run.

The other losses share the whole loop; their batches and outputs are tested in test_data.py and
test_siamese.py without the cost of another training.
"""

import csv
import dataclasses
import math
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from geosiam.config import load_settings
from geosiam.errors import ModelError, SettingsError, TrainingError
from geosiam.mining.training import train_run
from geosiam.model.embedder import load_embedder
from geosiam.runfolder import RunFolder
from tests.cli import run_cli
from tests.retrieval.factory import make_workspace

SPLITS = ["train"] * 6 + ["val"] * 3 + ["test"] * 2


def _settings(workspace, **train):
    settings = workspace.load_settings()
    settings.train = dataclasses.replace(
        settings.train,
        **(
            {
                "weights": "none",
                "epochs": 2,
                "mine_every": 1,
                "descriptor_dim": 8,
                "workers": 1,
                "loss": "infonce",
                "anchors_per_batch": 4,
                "temperature": 0.2,
                "lr_schedule": "cosine",
            }
            | train
        ),
    )
    return settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workspace = make_workspace(tmp_path_factory.mktemp("ws"), places=len(SPLITS), px=32, splits=SPLITS)
    return workspace, train_run(workspace, _settings(workspace), "first", resume=False)


def _history(run):
    with open(run / "history.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_run_folder_holds_settings_model_checkpoints_history_and_mining(trained):
    workspace, run = trained
    train = load_settings(run / "geosiam.toml").train
    assert (train.backbone, train.input_px, train.mixed_precision) == ("mobilenetv3small", 32, False)
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == [
        "epoch-0001.keras",
        "epoch-0002.keras",
    ]
    history = _history(run)
    assert [row["epoch"] for row in history] == ["1", "2"]
    assert all(math.isfinite(float(row["loss"])) and 0 <= float(row["val_map5"]) <= 1 for row in history)
    assert all(int(row["hard_anchors"]) >= 0 for row in history)
    assert [float(row["learning_rate"]) for row in history] == [1e-4, 5e-5]  # cosine over 2 epochs
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert np.load(run / "hard_negatives.npy").shape == (2, 6, 4)
    assert len(list((workspace.cache_dir / "train" / "train").iterdir())) == 1


def test_the_best_model_loads_as_an_embedder(trained):
    workspace, run = trained
    embedder = load_embedder(run)
    assert (embedder.input_px, embedder.num_classes, embedder.image_only) == (32, 9, False)
    assert load_embedder(run).identity == embedder.identity
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = embedder.embed(images, np.zeros((3, 32, 32), np.uint8))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_resume_through_the_cli_continues_with_the_optimizer_state(trained, capsys):
    workspace, run = trained
    steps = 2 * math.ceil(6 / 4)  # both years, 6 places in runs of 4
    # the run's own settings (weights none, infonce, 8-d...), without repeating them
    args = ["train", "-w", str(workspace.root), "--run", "first", "--resume", "--epochs", "3", "-q"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "best validation MAP@5" in out
    checkpoint = RunFolder(run).last_checkpoint()
    assert checkpoint.name == "epoch-0003.keras"
    model = keras.saving.load_model(checkpoint)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3 * steps
    history = _history(run)
    assert [row["epoch"] for row in history] == ["1", "2", "3"]
    # the cosine schedule continues where the run stopped, over the 3 epochs it now has
    assert float(history[2]["learning_rate"]) == pytest.approx(1e-4 * 0.5 * (1 + math.cos(2 * math.pi / 3)))
    assert model.get_layer("pair_descriptors").output.shape[-1] == 2 * 8  # [a, b] per place
    assert model.loss.temperature == 0.2


def test_resume_refuses_other_settings_unknown_runs_and_reuse_of_a_name(trained):
    workspace, _ = trained
    with pytest.raises(ModelError, match="other settings .*descriptor_dim"):
        train_run(workspace, _settings(workspace, descriptor_dim=4), "first", resume=True)
    with pytest.raises(ModelError, match="no run 'nope'"):
        train_run(workspace, _settings(workspace), "nope", resume=True)
    with pytest.raises(ModelError, match="already exists"):
        train_run(workspace, _settings(workspace), "first", resume=False)


def test_the_run_and_its_resume_are_checked_before_the_caches_are_packed(trained, monkeypatch, capsys):
    workspace, _ = trained

    def packing(*args, **kwargs):
        raise AssertionError("the caches were packed before the run was checked")

    monkeypatch.setattr("geosiam.mining.training.split_cache", packing)
    with pytest.raises(SettingsError, match="not a plain folder name"):
        train_run(workspace, _settings(workspace), "a/b", resume=False)
    with pytest.raises(ModelError, match="already exists"):
        train_run(workspace, _settings(workspace), "first", resume=False)
    with pytest.raises(ModelError, match=r"other settings \(descriptor_dim\)"):
        train_run(workspace, _settings(workspace, descriptor_dim=4), "first", resume=True)
    # through the CLI: an option given again that contradicts the run is refused, alone
    code, _, err = run_cli(
        ["train", "-w", str(workspace.root), "--run", "first", "--resume", "--loss", "bce"], capsys
    )
    assert code == 2 and "error: run 'first' was made with other settings (loss)" in err


def test_newer_labels_train_with_the_older_masks_deleted_and_keep_their_mode(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=len(SPLITS), px=32, splits=SPLITS)
    shutil.rmtree(workspace.root / "masks" / "2000")
    settings = _settings(workspace, labels="newer", mask_dropout=0.5, epochs=1)
    run = train_run(workspace, settings, "newer", resume=False)
    assert load_settings(run / "geosiam.toml").train.labels == "newer"
    embedder = load_embedder(run)
    assert embedder.uses_masks and (run / "model.keras").exists()
    with pytest.raises(ModelError, match="trained with labels 'newer', not 'both'"):
        train_run(workspace, _settings(workspace, labels="both", mask_dropout=0.5, epochs=1), "newer", True)
    resumed = train_run(workspace, _settings(workspace, mask_dropout=0.5, epochs=1), "newer", resume=True)
    assert load_settings(resumed / "geosiam.toml").train.labels == "newer"  # kept without --labels
    with pytest.raises(SettingsError, match="--mask-only needs the masks of both years"):
        train_run(workspace, _settings(workspace, labels="newer", mask_only=True), "m", resume=False)
    with pytest.raises(SettingsError, match="train with --image-only"):
        train_run(workspace, _settings(workspace, labels="none"), "n", resume=False)


def test_a_grey_year_against_a_colour_year_trains_and_evaluates_with_the_mask_only_ablation(tmp_path):
    """The older year panchromatic (grey in all three bands, as prepare tiles one band): the
    fused network with modality dropout and the mask-only network train; eval measures both."""
    import contextlib
    import io

    import rasterio

    from geosiam.retrieval.evaluate import evaluate_run

    workspace = make_workspace(tmp_path / "ws", places=len(SPLITS), px=32, splits=SPLITS)
    for path in (workspace.tiles_dir / "2000").glob("*.tif"):
        with rasterio.open(path, "r+") as tile:
            grey = tile.read().mean(axis=0).round().astype("uint8")
            tile.write(np.stack([grey] * 3))
    train_run(workspace, _settings(workspace, epochs=1, mask_dropout=0.5, greyscale=0.5), "fused", False)
    train_run(workspace, _settings(workspace, epochs=1, mask_only=True), "mask-only", False)
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = evaluate_run(workspace, workspace.run_dir("fused"), split="val").metrics
    assert list(metrics["modes"]) == ["fused", "fused_vs_image_only", "image_only"]
    assert "mask_only" in metrics["modes"]["fused"]["directions"]["newer_to_older"]
    assert "mask_only" not in metrics["modes"]["image_only"]["directions"]["newer_to_older"]
    assert metrics["models"]["model"]["recipe"]["mask_dropout"] == 0.5
    assert metrics["models"]["mask_only"]["recipe"]["mask_only"] is True


def test_too_few_pairs_and_empty_splits_are_training_errors(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=3, px=32, splits=["train", "val", "test"])
    with pytest.raises(TrainingError, match="too few for batches"):
        train_run(workspace, _settings(workspace), None, resume=False)
    workspace = make_workspace(tmp_path / "ws2", places=3, px=32, splits=["train"] * 3)
    with pytest.raises(TrainingError, match="val split .* has no pairs"):
        train_run(workspace, _settings(workspace), None, resume=False)


@pytest.mark.slow  # JAX compiles a backbone for minutes on 2 CPU cores
def test_the_same_training_runs_on_jax(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=5, px=32, splits=["train"] * 3 + ["val"] * 2)
    script = textwrap.dedent(f"""
        import dataclasses, keras
        from pathlib import Path
        from geosiam.mining.training import train_run
        from geosiam.workspace import Workspace
        workspace = Workspace(Path({str(workspace.root)!r}))
        settings = workspace.load_settings()
        settings.train = dataclasses.replace(settings.train, weights="none", epochs=1, mine_every=1,
                                             descriptor_dim=8, workers=1, anchors_per_batch=6)
        run = train_run(workspace, settings, "jax", resume=False)
        print(keras.backend.backend(), sorted(p.name for p in run.iterdir()))
        print(*sorted(p.parent.name for p in (run / "logs").rglob("events.out.tfevents.*")))
    """)
    env = os.environ | {"KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "jax" in done.stdout and "model.keras" in done.stdout and "checkpoints" in done.stdout
    assert "curves.png" in done.stdout and done.stdout.splitlines()[-1] == "train validation"
    from tests.model.test_logs import scalars

    run = workspace.run_dir("jax")
    assert [s for s, _ in scalars(run / "logs" / "validation")["epoch_map_at_5"]] == [0, 1]


def test_tensorboard_holds_train_and_validation_map_under_one_tag(trained):
    from tests.model.test_logs import scalars

    _, run = trained
    history = _history(run)  # 2 epochs, 3 once the resume test has run: each logged once
    epochs = list(range(1, len(history) + 1))
    train, validation = scalars(run / "logs" / "train"), scalars(run / "logs" / "validation")
    assert [step for step, _ in train["epoch_map_at_5"]] == [0, *epochs]  # mined before and after each
    assert [step for step, _ in validation["epoch_map_at_5"]] == [0, *epochs]
    assert [step for step, _ in train["epoch_loss"]] == epochs
    assert validation["epoch_map_at_5"][-1][1] == pytest.approx(float(history[-1]["val_map5"]), abs=1e-6)
