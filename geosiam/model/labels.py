"""Which years' masks a run reads: its label mode, checked against the workspace's.

A workspace's labels (``prepare --labels``) are ``both`` (each year has its own map), ``newer``
(only the newer year has one; the older year has no masks at all) or ``none``. A run may use
fewer labels than its workspace has, never more, and records the mode it trained with: with
``newer`` the older year's masks are never read, in training, embedding, eval or search.
"""

from __future__ import annotations

from pathlib import Path

from geosiam.config import RUN_LABELS, Settings, TrainSettings
from geosiam.errors import SettingsError
from geosiam.workspace import Workspace

NO_LABELS = 255  # the mask id of "no labels" (a year without a map): not a class, not background

# how retrieval is measured: which of (older, newer) carry their mask
MODE_SIDES = {
    "fused": (True, True),
    "fused_vs_image_only": (False, True),
    "image_only": (False, False),
}


def workspace_labels(settings: Settings) -> str:
    """The labels a workspace was prepared with (both for workspaces that predate label modes)."""
    return settings.labels.effective


def run_labels(train: TrainSettings, available: str) -> str:
    """The label mode of a run: ``train.labels`` ("" = ``available``), checked."""
    mode = train.labels or available
    if RUN_LABELS.index(mode) < RUN_LABELS.index(available):
        missing = "the older year has" if available == "newer" else "no year has"
        raise SettingsError(
            f"--labels {mode} needs masks that this workspace lacks (its labels are '{available}': "
            f"{missing} none): use --labels {available}, or prepare with labels for both years"
        )
    if mode == "none" and not train.image_only:
        raise SettingsError(
            "without labels (labels 'none') there are no masks to fuse: train with --image-only"
        )
    if train.mask_only and mode != "both":
        raise SettingsError(
            f"--mask-only needs the masks of both years, but the run's labels are '{mode}': "
            "prepare with labels for both years, or train the fused network"
        )
    return mode


def unlabelled_years(settings: Settings) -> set[int]:
    """The workspace years whose masks a run never reads (its settings: years and labels)."""
    older, newer = masked_years(settings.train.labels)
    return {y for y, used in zip(sorted(settings.years), (older, newer)) if not used}


def masked_years(mode: str) -> tuple[bool, bool]:
    """Whether (older, newer) masks are read under label mode ``mode``."""
    return {"both": (True, True), "newer": (False, True), "none": (False, False)}[mode or "both"]


def retrieval_modes(mode: str, train: TrainSettings) -> list[str]:
    """The retrieval settings a run can be measured in, the most informed first."""
    if train.image_only:
        return ["image_only"]
    if train.mask_only:
        return ["fused"]
    older, newer = masked_years(mode)
    return [m for m, sides in MODE_SIDES.items() if (sides[0] <= older) and (sides[1] <= newer)]


def has_mask(stored) -> bool:
    """Whether an index's mask cell names a file (a tile without labels has "" or null)."""
    return isinstance(stored, str) and stored != ""


def mask_file(workspace: Workspace, stored) -> Path | None:
    """The mask path an index stores for a tile; None for a tile without labels."""
    return workspace.absolute(stored) if has_mask(stored) else None
