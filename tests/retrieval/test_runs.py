"""Choosing runs: by name or path, the newest, and the ablations to compare with."""

import os

import pytest

from geosiam.config import Settings, save_settings
from geosiam.errors import ModelError, WorkspaceError
from geosiam.retrieval.runs import ablation_run, resolve_run, trained_runs
from geosiam.workspace import Workspace


def fake_run(ws, name, image_only=False, age=0, mask_only=False):
    """A run folder as far as run selection looks: settings and a model file with an mtime."""
    run = ws.run_dir(name)
    settings = Settings(years=[2000, 2015])
    settings.train.image_only, settings.train.mask_only = image_only, mask_only
    save_settings(settings, run / "geosiam.toml")
    (run / "model.keras").write_bytes(b"model")
    os.utime(run / "model.keras", (1e9 - age, 1e9 - age))
    return run


def test_runs_by_name_path_and_newest(tmp_path):
    ws = Workspace(tmp_path)
    old, new = fake_run(ws, "old", age=100), fake_run(ws, "new")
    assert trained_runs(ws) == [new, old]
    assert resolve_run(ws, None) == new
    assert resolve_run(ws, "old") == old
    assert resolve_run(ws, str(old)) == old


def test_unknown_run_lists_the_trained_ones(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="run 'geosiam train' first"):
        resolve_run(ws, None)
    fake_run(ws, "a")
    (ws.run_dir("unfinished")).mkdir()
    with pytest.raises(ModelError, match=r"no trained run 'b' .*\(trained runs: a\)"):
        resolve_run(ws, "b")


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
