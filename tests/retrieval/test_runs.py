"""The ablations to compare a run with: named, or the newest such run."""

import os

import pytest

from geosiam.config import Settings, save_settings
from geosiam.errors import ModelError
from geosiam.retrieval.runs import ablation_run
from geosiam.workspace import Workspace


def fake_run(ws, name, image_only=False, age=0, mask_only=False):
    """A run folder as far as run selection looks: a model and settings written ``age`` s ago."""
    run = ws.run_dir(name)
    settings = Settings(years=[2000, 2015])
    settings.train.image_only, settings.train.mask_only = image_only, mask_only
    save_settings(settings, run / "geosiam.toml")
    (run / "model.keras").write_bytes(b"model")
    os.utime(run / "geosiam.toml", (1e9 - age, 1e9 - age))
    return run


def test_image_only_run_is_the_newest_such_run_unless_named(tmp_path):
    ws = Workspace(tmp_path)
    main = fake_run(ws, "fused")
    older_io, newer_io = fake_run(ws, "io1", True, age=50), fake_run(ws, "io2", True, age=10)
    mask_only = fake_run(ws, "mo", mask_only=True, age=5)
    assert ablation_run(ws, "image_only", None, main) == newer_io
    assert ablation_run(ws, "image_only", "io1", main) == older_io
    assert ablation_run(ws, "image_only", None, newer_io) is None  # nothing to compare an ablation to
    with pytest.raises(ModelError, match="not trained with --image-only: pass a --image-only run"):
        ablation_run(ws, "image_only", "fused", main)
    assert ablation_run(ws, "mask_only", None, main) == mask_only
    with pytest.raises(ModelError, match="not trained with --mask-only"):
        ablation_run(ws, "mask_only", "io1", main)


def test_no_image_only_run_and_unreadable_runs_are_skipped(tmp_path):
    ws = Workspace(tmp_path)
    main = fake_run(ws, "fused")
    broken = fake_run(ws, "broken", True)
    (broken / "geosiam.toml").write_text("not = [toml")
    assert ablation_run(ws, "image_only", None, main) is None
