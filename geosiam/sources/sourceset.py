"""What every source (sample, local files, IGN download, WMS) hands to tiling and rasterisation.

A source module resolves the user's area and years into :class:`YearSources` records: the files
on disk that hold one year's imagery and vectors. Tiling and rasterisation read only these, so
the built-in sample, a user's own files and IGN's deliveries all go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class YearSources:
    """One year's source files for one zone (several records per year are mosaicked)."""

    year: int
    rasters: tuple[Path, ...]  # georeferenced rasters, any CRS, uint8 or 16-bit
    vectors: tuple[Path, ...] = ()  # vector files (GPKG, SHP, GeoJSON...), any CRS
    origin: str = "local"  # provenance for tiles.gpkg: "sample", "ign:<delivery>", "wms:<layer>"
    zone: str = ""  # département code where known, for splits by département
    acquisition: str = ""  # acquisition date or period where known
    year_end_mosaic: bool = False  # True for WMS year layers: a mix of survey years
    label_date: str = ""  # ISO date of the vectors' edition; "" unknown (local files, the year itself)
    label_version: str = ""  # the vectors' data model: "3" (BD TOPO v3), "2" (BD TOPO 2.x), "" other
    label_name: str = ""  # what names the vectors' edition: IGN's delivery, the path the user gave
    ground_truth: Path | None = field(default=None, compare=False)  # what changed (ground_truth.py)

    @classmethod
    def from_dict(cls, saved: dict) -> YearSources:
        """A record saved with :func:`dataclasses.asdict` (paths as strings); keys of older versions
        that are no field any more are left out, so a record written before still reads."""
        names = {f.name for f in fields(cls)}
        known = {key: value for key, value in saved.items() if key in names}
        paths = {key: tuple(map(Path, known.get(key, ()))) for key in ("rasters", "vectors")}
        truth = known.get("ground_truth")
        return cls(**{**known, **paths, "ground_truth": Path(truth) if truth else None})


def by_year(records: list[YearSources]) -> dict[int, list[YearSources]]:
    """Group records by year, keeping their order."""
    grouped: dict[int, list[YearSources]] = {}
    for record in records:
        grouped.setdefault(record.year, []).append(record)
    return grouped
