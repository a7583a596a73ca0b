"""The sample's files, a year at a time: the world drawn once, each year's campaign and edition.

``generate`` draws a deterministic world from a seed (:mod:`.world`) and writes, for each year,
what IGN would deliver for a small piece of département 54 (:mod:`.delivery`): BD ORTHO
JPEG2000 dalles with their ``dalles.shp`` index, and a BD TOPO edition (:mod:`.topo`), in IGN's
formats (:mod:`.writers`). Each year is finished by a marker file written last: a second call
finds the markers and returns at once; an interrupted call is completed by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from geosiam import atomic
from geosiam.config import FIRST_YEAR, LAST_YEAR, SAMPLE_GENERATOR_VERSION, SampleSettings
from geosiam.errors import SettingsError
from geosiam.progress import progress
from geosiam.sources.sample.delivery import SAMPLE_DEPT, changes_path, dalle_name, ortho_folders
from geosiam.sources.sample.landscape import build_world
from geosiam.sources.sample.layout import SampleLayout, sample_layout
from geosiam.sources.sample.render import render, survey
from geosiam.sources.sample.topo import edition
from geosiam.sources.sample.writers import write_changes, write_dalle, write_dalle_index, write_edition
from geosiam.sources.sourceset import YearSources

SAMPLE_ORIGIN = "sample"


def _marker(root: Path, year: int) -> Path:
    return root / f"sample-{year}.complete.json"


def check_years(years: Sequence[int]) -> list[int]:
    """The years as ints, each in the supported range and given once."""
    if not years:
        raise SettingsError("no year given for the sample area: give survey years, e.g. --years 2000 2015")
    checked = []
    for year in years:
        if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
            raise SettingsError(
                f"the sample area cannot be drawn for year {year!r}: "
                f"give years between {FIRST_YEAR} and {LAST_YEAR}"
            )
        if year in checked:
            raise SettingsError(f"year {year} is given twice: give each survey year once")
        checked.append(year)
    return checked


def generate(
    root: Path, years: Sequence[int], sample: SampleSettings | None = None, layout: SampleLayout | None = None
) -> list[YearSources]:
    """Write the sample area's imagery and vectors for ``years`` under ``root``; one record per year.

    Deterministic for (years, settings): the world depends on the seed alone and each year is a
    snapshot of it. ``layout`` defaults to ``sample.km``'s. Years already complete (their marker
    matches the settings, layout and generator version) are not redrawn.
    """
    years = check_years(years)
    sample = sample or SampleSettings()
    layout = layout or sample_layout(sample)
    root = Path(root)
    fingerprint = {
        "seed": sample.seed,
        "panchromatic_before": sample.panchromatic_before,
        "layout": asdict(layout),
        "generator": SAMPLE_GENERATOR_VERSION,
    }
    done = {year: _finished(root, year, fingerprint) for year in years}
    todo = [year for year in years if done[year] is None]
    if todo:
        world = build_world(layout.bounds, sample.seed)
        write_changes(changes_path(root), world)
        bar = progress(
            total=len(todo) * (len(layout.dalle_corners()) + 1), desc="drawing the sample area", unit="file"
        )
        with bar:
            for year in todo:
                grey = year < sample.panchromatic_before
                done[year] = _write_year(root, world, year, layout, grey, fingerprint, bar)
    return [done[year] for year in years]


def _finished(root: Path, year: int, fingerprint: dict) -> YearSources | None:
    """The year's record when its marker matches and its files exist, else None."""
    try:
        marker = json.loads(_marker(root, year).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if marker.get("fingerprint") != fingerprint:
        return None
    record = _record(root, year, marker)
    if not all(path.is_file() for path in record.rasters + record.vectors + (changes_path(root),)):
        return None
    return record


def _record(root: Path, year: int, marker: dict) -> YearSources:
    return YearSources(
        year=year,
        rasters=tuple(root / p for p in marker["rasters"]),
        vectors=tuple(root / p for p in marker["vectors"]),
        origin=SAMPLE_ORIGIN,
        zone=SAMPLE_DEPT,
        acquisition=marker["acquisition"],
        label_date=marker["label_date"],
        label_version=marker["label_version"],
        ground_truth=changes_path(root),
    )


def _write_year(
    root: Path, world, year: int, layout: SampleLayout, grey: bool, fingerprint: dict, bar
) -> YearSources:
    """Draw and write one year: dalles, their index, its BD TOPO edition; the marker last."""
    resolution = layout.resolution(grey)
    image = render(world, year, layout.bounds, resolution, grey)
    dalles_dir, supplements_dir = ortho_folders(root, year, layout, grey)
    px = round(layout.dalle_km * 1000 / resolution)
    rasters = []
    for left_km, top_km in layout.dalle_corners():
        col = round((left_km * 1000 - layout.bounds[0]) / resolution)
        row = round((layout.bounds[3] - top_km * 1000) / resolution)
        path = dalles_dir / dalle_name(year, left_km, top_km, layout, grey)
        write_dalle(path, image[:, row : row + px, col : col + px], left_km, top_km, resolution)
        rasters.append(path)
        bar.update(1)
    write_dalle_index(supplements_dir / "dalles.shp", rasters, layout)
    ed = edition(world.seed, year)
    vectors = write_edition(root, world, ed)
    bar.update(1)
    marker = {
        "fingerprint": fingerprint,
        "rasters": [str(p.relative_to(root)) for p in rasters],
        "vectors": [str(p.relative_to(root)) for p in vectors],
        "acquisition": survey(world.seed, year).date.isoformat(),
        "label_date": ed.date,
        "label_version": ed.version,
    }
    atomic.write_text(_marker(root, year), json.dumps(marker, indent=1))
    return _record(root, year, marker)
