"""Where each file of a training run lives, and which run is the latest.

A run is a folder of the workspace's ``runs/``::

    geosiam.toml          the workspace settings with the train section resolved
    model.keras           the embedding network with the best validation MAP@5 (+ model.json)
    checkpoints/          the training model (weights + optimizer) after each epoch, epoch-NNNN.keras
    history.csv           one row per epoch
    mining.json           mining history and the best validation score
    hard_negatives.npy    the current hard negatives, (2, N, K)
    curves.png            loss and MAP@5 by epoch
    logs/                 TensorBoard
    vectors/<year>.npy    the run's descriptors of the workspace's tiles (search, changes)
    index/<year>.faiss    the search index of those descriptors (+ <year>.json)
    eval/                 eval on the test split (eval_<split>/ for another split)
    changes.gpkg          the change map of the test split (changes_<split|all>.gpkg otherwise)

The latest run is the one started (or resumed) last: its settings file, written when training
starts, is the newest. Commands that need a model look only at runs that hold one.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path

from geosiam.config import Settings, load_settings
from geosiam.errors import ModelError, SettingsError, WorkspaceError
from geosiam.workspace import SETTINGS_FILE, Workspace

CHECKPOINT_GLOB = "epoch-*.keras"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run; creating the object touches nothing on disk."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def model_path(self) -> Path:
        return self.root / "model.keras"

    @property
    def model_meta_path(self) -> Path:
        return self.root / "model.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def history_path(self) -> Path:
        return self.root / "history.csv"

    @property
    def mining_state_path(self) -> Path:
        return self.root / "mining.json"

    @property
    def hard_negatives_path(self) -> Path:
        return self.root / "hard_negatives.npy"

    @property
    def curves_path(self) -> Path:
        return self.root / "curves.png"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def checkpoint_path(self, epoch: int) -> Path:
        """The checkpoint written after ``epoch`` (1-based) epochs."""
        return self.checkpoints_dir / f"epoch-{epoch:04d}.keras"

    def checkpoints(self) -> list[Path]:
        """The checkpoints on disk, oldest epoch first."""
        return sorted(self.checkpoints_dir.glob(CHECKPOINT_GLOB), key=checkpoint_epoch)

    def last_checkpoint(self) -> Path | None:
        """The checkpoint of the most recent complete epoch, if any."""
        found = self.checkpoints()
        return found[-1] if found else None

    def vectors_path(self, year: int) -> Path:
        """The run's descriptors of the workspace's tiles of ``year``."""
        return self.root / "vectors" / f"{year}.npy"

    def index_path(self, year: int) -> Path:
        """The search index of :meth:`vectors_path` (its description beside it, as .json)."""
        return self.root / "index" / f"{year}.faiss"

    def eval_dir(self, split: str) -> Path:
        """Where ``geosiam eval`` writes: ``eval/`` for the test split, ``eval_<split>/`` otherwise."""
        return self.root / ("eval" if split == "test" else f"eval_{split}")

    def changes_path(self, split: str | None) -> Path:
        """The change map: ``changes.gpkg`` for the test split, ``changes_<split|all>.gpkg`` otherwise."""
        return self.root / ("changes.gpkg" if split == "test" else f"changes_{split or 'all'}.gpkg")

    def is_started(self) -> bool:
        return self.settings_path.exists()

    def is_trained(self) -> bool:
        return self.model_path.exists()

    def load_settings(self) -> Settings:
        """The resolved settings saved in the run folder."""
        if not self.settings_path.exists():
            raise ModelError(f"run {self.root} has no {SETTINGS_FILE}: re-run 'geosiam train' for it")
        return load_settings(self.settings_path)


def checkpoint_epoch(path: Path) -> int:
    """The epoch a checkpoint file was written after."""
    return int(path.stem.split("-")[1])


def runs(workspace: Workspace, trained: bool = False) -> list[RunFolder]:
    """The workspace's runs, latest first (the one rule: the newest settings file); with
    ``trained``, only those that hold a model."""
    found = [RunFolder(p) for p in workspace.runs_dir.glob("*") if (p / SETTINGS_FILE).exists()]
    if trained:
        found = [run for run in found if run.is_trained()]
    return sorted(found, key=lambda run: run.settings_path.stat().st_mtime, reverse=True)


def trained_run(workspace: Workspace, name: str | None) -> RunFolder:
    """The trained run called ``name`` in the workspace (or a path to a run folder); the latest
    trained run when None."""
    if name is None:
        latest = runs(workspace, trained=True)
        if not latest:
            raise WorkspaceError(
                f"no trained run in {workspace.runs_dir}: run 'geosiam train' first or pass --run"
            )
        return latest[0]
    for candidate in (RunFolder(workspace.run_dir(name)), RunFolder(Path(name))):
        if candidate.is_trained():
            return candidate
    available = ", ".join(run.name for run in runs(workspace, trained=True)) or "none"
    raise ModelError(
        f"no trained run '{name}' in {workspace.runs_dir} (trained runs: {available}): "
        "pass --run with one of them, or train it with 'geosiam train'"
    )


def run_to_resume(workspace: Workspace, name: str | None) -> RunFolder:
    """The run ``--resume`` continues: ``name``, or the latest run; it must have been started."""
    if name is None:
        latest = runs(workspace)
        if not latest:
            raise ModelError(f"no run to resume in {workspace.runs_dir}: drop --resume to start one")
        return latest[0]
    run = RunFolder(workspace.run_dir(_checked_name(name)))
    if not run.is_started():
        raise ModelError(
            f"no run '{run.name}' in {workspace.runs_dir}: check --run, or drop --resume to start a new run"
        )
    return run


def resumed_settings(workspace: Workspace, settings: Settings, name: str | None) -> Settings:
    """``settings`` with the training settings of the run to resume (``name`` or the latest), so
    that ``--resume`` needs no option repeated; options given again go over them."""
    return dataclasses.replace(settings, train=run_to_resume(workspace, name).load_settings().train)


def new_run(workspace: Workspace, name: str | None) -> RunFolder:
    """A run folder to start training in: ``name`` (a timestamp by default); it must be new."""
    run = RunFolder(workspace.run_dir(_checked_name(name) if name else time.strftime("%Y%m%d-%H%M%S")))
    if run.root.exists() and any(run.root.iterdir()):
        raise ModelError(
            f"run '{run.name}' already exists: add --resume to continue it, or choose another --run"
        )
    return run


def _checked_name(name: str) -> str:
    if not re.fullmatch(r"[\w.-]+", name):
        raise SettingsError(
            f"run name '{name}' is not a plain folder name: use letters, digits, '-', '_' and '.'"
        )
    return name
