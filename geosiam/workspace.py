"""Where each file of a workspace lives, and which stages are done.

A workspace is a folder (the current directory by default)::

    geosiam.toml               resolved settings
    cache/                     downloads, extracted sources, generated sample, training caches
    tiles/<year>/<tile_id>.tif RGB uint8 GeoTIFF
    masks/<year>/<tile_id>.tif uint8 class ids, same grid as its tile
    tiles.gpkg                 one row per tile and year
    pairs.gpkg                 one row per pair of years, with its split
    tiles_<year>.vrt           the year's tiles as one mosaic; masks_<year>.vrt its masks
    stac/collection.json       the prepared dataset as a STAC collection
    runs/<run>/                one training run and its evaluation
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from geosiam import atomic
from geosiam.config import (
    SAMPLE_GENERATOR_VERSION,
    Settings,
    fingerprint,
    load_settings,
    save_settings,
    to_dict,
)
from geosiam.errors import WorkspaceError, WorkspaceMismatchError

SETTINGS_FILE = "geosiam.toml"


@dataclass(frozen=True)
class Workspace:
    """The paths of one workspace; creating the object touches nothing on disk."""

    root: Path

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def tiles_dir(self) -> Path:
        return self.root / "tiles"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def tiles_index(self) -> Path:
        return self.root / "tiles.gpkg"

    @property
    def pairs_index(self) -> Path:
        return self.root / "pairs.gpkg"

    @property
    def classes_path(self) -> Path:
        """The class table the masks were burnt with (a copy, so the workspace is self-contained)."""
        return self.root / "classes.toml"

    @property
    def state_path(self) -> Path:
        return self.root / "cache" / "state.json"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def mosaic_path(self, kind: str, year: int) -> Path:
        """The per-year mosaic (VRT) of ``kind`` "tiles" or "masks"."""
        return self.root / f"{kind}_{year}.vrt"

    def tile_path(self, year: int, tile_id: str) -> Path:
        return self.tiles_dir / str(year) / f"{tile_id}.tif"

    def mask_path(self, year: int, tile_id: str) -> Path:
        return self.masks_dir / str(year) / f"{tile_id}.tif"

    def relative(self, path: Path) -> str:
        """``path`` relative to the workspace root (as stored in the indexes), POSIX style."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def absolute(self, stored: str) -> Path:
        """The absolute path of a path stored in an index (relative ones are to the root)."""
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def run_dir(self, name: str) -> Path:
        return self.runs_dir / name

    def load_settings(self) -> Settings:
        """The workspace's settings; an error if ``prepare`` has not run here."""
        if not self.settings_path.exists():
            raise WorkspaceError(
                f"no {SETTINGS_FILE} in {self.root}: run 'geosiam prepare' first or pass --workspace DIR"
            )
        return load_settings(self.settings_path)

    def require_prepared(self) -> Settings:
        """The settings of a fully prepared workspace (pairs written), else a clear error."""
        settings = self.load_settings()
        if not self.pairs_index.exists():
            raise WorkspaceError(
                f"{self.root} is not fully prepared (no pairs.gpkg): run 'geosiam prepare' again"
            )
        return settings


def data_identity(settings: Settings, classes_digest: str) -> dict:
    """The settings that define the prepared files; if they change, tiles or masks change."""
    sources = to_dict(settings.sources)
    for how_not_what in ("ign_url", "http"):
        sources.pop(how_not_what, None)
    return {
        "years": settings.years,
        "grid": to_dict(settings.grid),
        "area": to_dict(settings.area),
        "sources": sources,
        "classes": classes_digest,
        "min_valid_fraction": settings.prepare.min_valid_fraction,
        "bands": settings.prepare.bands,
        "sample": _sample_identity(settings),
    }


def _sample_identity(settings: Settings) -> dict:
    """The built-in sample's settings and generator version; nothing for other areas."""
    if not settings.area.sample:
        return {}
    return {**to_dict(settings.sample), "generator": SAMPLE_GENERATOR_VERSION}


def check_claim(workspace: Workspace, settings: Settings, classes_text: str, force: bool) -> None:
    """Refuse to mix grids: ``settings`` and the class table must be those the workspace is bound
    to (:func:`bind`), if it is bound.

    With ``force``, the prepared files (tiles, masks, indexes; never the download cache) of a
    workspace made with other settings are removed first, and the workspace is unbound.
    """
    new = data_identity(settings, fingerprint(classes_text))
    # a geosiam.toml alone (written by hand, or by a prepare that made nothing) is configuration,
    # not a claim
    if workspace.settings_path.exists() and workspace.classes_path.exists():
        old = data_identity(workspace.load_settings(), _stored_classes_digest(workspace))
        if old != new:
            if not force:
                changed = ", ".join(key for key in new if old.get(key) != new.get(key))
                raise WorkspaceMismatchError(
                    f"{workspace.root} was prepared with other settings ({changed}): "
                    "use another --workspace, or --force to discard its tiles and masks"
                )
            discard_prepared(workspace)


def bind(workspace: Workspace, settings: Settings, classes_text: str) -> None:
    """Record ``settings`` and the class table as the workspace's, once something was prepared
    with them: a prepare that fails before (bad inputs) leaves the workspace free."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    atomic.write_text(workspace.classes_path, classes_text)
    save_settings(settings, workspace.settings_path)


def discard_prepared(workspace: Workspace) -> None:
    """Remove tiles, masks, indexes and stage records, and unbind the workspace (the cache of
    downloads is kept)."""
    for folder in (workspace.tiles_dir, workspace.masks_dir, workspace.cache_dir / "stages"):
        shutil.rmtree(folder, ignore_errors=True)
    for index in (workspace.tiles_index, workspace.pairs_index, workspace.state_path, workspace.classes_path):
        index.unlink(missing_ok=True)


def _stored_classes_digest(workspace: Workspace) -> str:
    path = workspace.classes_path
    return fingerprint(path.read_text(encoding="utf-8")) if path.exists() else ""
