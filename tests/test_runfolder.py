"""Run folders: where a run's files live, and the one rule that picks the latest run."""

import os

import pytest

from geosiam.config import Settings, save_settings
from geosiam.errors import ModelError, SettingsError, WorkspaceError
from geosiam.runfolder import RunFolder, checkpoint_epoch, new_run, run_to_resume, runs, trained_run
from geosiam.workspace import Workspace


def fake_run(ws, name, age=0, trained=True):
    """A run started ``age`` seconds before the others (its settings written then)."""
    run = RunFolder(ws.run_dir(name))
    save_settings(Settings(years=[2000, 2015]), run.settings_path)
    if trained:
        run.model_path.write_bytes(b"model")
    os.utime(run.settings_path, (1e9 - age, 1e9 - age))
    return run


def test_a_run_names_each_of_its_files(tmp_path):
    run = RunFolder(tmp_path / "runs" / "r")
    assert run.name == "r"
    assert run.checkpoint_path(7) == tmp_path / "runs" / "r" / "checkpoints" / "epoch-0007.keras"
    assert run.vectors_path(2015).relative_to(run.root).as_posix() == "vectors/2015.npy"
    assert run.index_path(2015).relative_to(run.root).as_posix() == "index/2015.faiss"
    assert run.eval_dir("test").name == "eval" and run.eval_dir("val").name == "eval_val"
    assert [run.changes_path(s).name for s in ("test", "val", None)] == [
        "changes.gpkg",
        "changes_val.gpkg",
        "changes_all.gpkg",
    ]


def test_checkpoints_are_ordered_by_epoch_not_by_name(tmp_path):
    run = RunFolder(tmp_path)
    assert run.last_checkpoint() is None
    for epoch in (10000, 9, 10):  # epoch 10000 sorts first by name
        run.checkpoint_path(epoch).parent.mkdir(exist_ok=True)
        run.checkpoint_path(epoch).write_bytes(b"")
    assert [checkpoint_epoch(p) for p in run.checkpoints()] == [9, 10, 10000]
    assert run.last_checkpoint() == run.checkpoint_path(10000)


def test_the_latest_run_is_the_last_started_and_commands_take_the_latest_trained(tmp_path):
    ws = Workspace(tmp_path)
    old, new = fake_run(ws, "old", age=100), fake_run(ws, "new", age=50)
    killed = fake_run(ws, "killed", trained=False)  # started last, killed before its first model
    assert runs(ws) == [killed, new, old]
    assert runs(ws, trained=True) == [new, old]
    assert run_to_resume(ws, None) == killed  # --resume continues the run started last
    assert trained_run(ws, None) == new  # eval, embed, search... use the latest with a model
    assert trained_run(ws, "old") == old
    assert trained_run(ws, str(old.root)) == old


def test_no_run_and_unknown_runs_are_one_line_errors(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="run 'geosiam train' first"):
        trained_run(ws, None)
    with pytest.raises(ModelError, match="no run to resume"):
        run_to_resume(ws, None)
    fake_run(ws, "a")
    ws.run_dir("unfinished").mkdir()
    with pytest.raises(ModelError, match=r"no trained run 'b' .*\(trained runs: a\)"):
        trained_run(ws, "b")
    with pytest.raises(ModelError, match="no run 'unfinished'"):
        run_to_resume(ws, "unfinished")


def test_a_new_run_needs_a_plain_unused_name(tmp_path):
    ws = Workspace(tmp_path)
    fake_run(ws, "a")
    with pytest.raises(ModelError, match="run 'a' already exists: add --resume"):
        new_run(ws, "a")
    with pytest.raises(SettingsError, match="not a plain folder name"):
        new_run(ws, "../a")
    with pytest.raises(SettingsError, match="not a plain folder name"):
        run_to_resume(ws, "a/b")
    assert new_run(ws, None).root.parent == ws.runs_dir  # a timestamp
    assert new_run(ws, "b") == RunFolder(ws.run_dir("b"))


def test_settings_of_a_run_without_them_is_a_one_line_error(tmp_path):
    with pytest.raises(ModelError, match="has no geosiam.toml"):
        RunFolder(tmp_path).load_settings()
