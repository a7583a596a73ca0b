"""Find training runs by name: the one a command uses, and the ablations to compare it with."""

from __future__ import annotations

from pathlib import Path

from geosiam.config import Settings, load_settings
from geosiam.errors import GeosiamError, ModelError
from geosiam.workspace import SETTINGS_FILE, Workspace

MODEL_FILE = "model.keras"


def trained_runs(workspace: Workspace) -> list[Path]:
    """Run folders that hold a model, newest model first."""
    runs = [p for p in workspace.runs_dir.glob("*") if (p / MODEL_FILE).exists()]
    return sorted(runs, key=lambda p: (p / MODEL_FILE).stat().st_mtime, reverse=True)


def resolve_run(workspace: Workspace, name: str | None) -> Path:
    """The run called ``name`` in the workspace (or a path to a run folder); newest when None."""
    if name is None:
        return workspace.newest_run()
    for candidate in (workspace.run_dir(name), Path(name)):
        if (candidate / MODEL_FILE).exists():
            return candidate
    available = ", ".join(p.name for p in trained_runs(workspace)) or "none"
    raise ModelError(
        f"no trained run '{name}' in {workspace.runs_dir} (trained runs: {available}): "
        "pass --run with one of them, or train it with 'geosiam train'"
    )


def run_that_made(workspace: Workspace, identity: str, where: Path) -> Path:
    """The workspace's run whose model has ``identity`` (the model that wrote descriptors)."""
    from geosiam.model.embedder import run_identity

    for run in trained_runs(workspace):
        try:
            if run_identity(run) == identity:
                return run
        except (GeosiamError, OSError):  # an unreadable run did not make them
            continue
    raise ModelError(
        f"no run of {workspace.runs_dir} has the model ({identity or 'unknown'}) that made the "
        f"descriptors in {where}: pass --run with the run that wrote them, or re-run 'geosiam embed'"
    )


def run_settings(run_dir: Path) -> Settings:
    """The resolved settings saved in a run folder."""
    path = Path(run_dir) / SETTINGS_FILE
    if not path.exists():
        raise ModelError(f"run {run_dir} has no {SETTINGS_FILE}: re-run 'geosiam train' for it")
    return load_settings(path)


ABLATIONS = {"image_only": "--image-only", "mask_only": "--mask-only"}


def ablation_run(workspace: Workspace, kind: str, name: str | None, main: Path) -> Path | None:
    """The ``kind`` ablation run (image_only or mask_only) to compare ``main`` with: ``name``,
    else the newest such run, else None. None as well when ``main`` is itself that ablation."""
    if _is_ablation(main, kind):
        return None
    flag = ABLATIONS[kind]
    if name is not None:
        run = resolve_run(workspace, name)
        if not _is_ablation(run, kind):
            raise ModelError(
                f"run '{name}' was not trained with {flag}: pass a {flag} run to {flag}-run "
                f"(train one with 'geosiam train {flag}')"
            )
        return run
    candidates = [
        r for r in trained_runs(workspace) if r.resolve() != main.resolve() and _is_ablation(r, kind)
    ]
    return candidates[0] if candidates else None


def _is_ablation(run_dir: Path, kind: str) -> bool:
    try:
        return bool(getattr(run_settings(run_dir).train, kind))
    except GeosiamError:  # an unreadable run is simply not a candidate
        return False
