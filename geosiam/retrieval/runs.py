"""The runs to compare a run with (its ablations), and the run that made a set of descriptors."""

from __future__ import annotations

from pathlib import Path

from geosiam.errors import GeosiamError, ModelError
from geosiam.model.embedder import run_identity
from geosiam.runfolder import RunFolder, runs, trained_run
from geosiam.workspace import Workspace


def run_that_made(workspace: Workspace, identity: str, where: Path) -> Path:
    """The workspace's run whose model has ``identity`` (the model that wrote descriptors)."""
    for run in runs(workspace, trained=True):
        try:
            if run_identity(run.root) == identity:
                return run.root
        except (GeosiamError, OSError):  # an unreadable run did not make them
            continue
    raise ModelError(
        f"no run of {workspace.runs_dir} has the model ({identity or 'unknown'}) that made the "
        f"descriptors in {where}: pass --run with the run that wrote them, or re-run 'geosiam embed'"
    )


ABLATIONS = {"image_only": "--image-only", "mask_only": "--mask-only"}


def ablation_run(workspace: Workspace, kind: str, name: str | None, main: Path) -> Path | None:
    """The ``kind`` ablation run (image_only or mask_only) to compare ``main`` with: ``name``,
    else the newest such run, else None. None as well when ``main`` is itself that ablation."""
    if _is_ablation(main, kind):
        return None
    flag = ABLATIONS[kind]
    if name is not None:
        run = trained_run(workspace, name).root
        if not _is_ablation(run, kind):
            raise ModelError(
                f"run '{name}' was not trained with {flag}: pass a {flag} run to {flag}-run "
                f"(train one with 'geosiam train {flag}')"
            )
        return run
    candidates = [
        r.root
        for r in runs(workspace, trained=True)
        if r.root.resolve() != main.resolve() and _is_ablation(r.root, kind)
    ]
    return candidates[0] if candidates else None


def _is_ablation(run_dir: Path, kind: str) -> bool:
    try:
        return bool(getattr(RunFolder(run_dir).load_settings().train, kind))
    except GeosiamError:  # an unreadable run is simply not a candidate
        return False
