"""``stac/collection.json``: the prepared dataset as a STAC collection, to find and load it with
the STAC tools (pystac, QGIS's STAC browser, stac-geoparquet...).

One item per place and year (``<tile_id>-<year>``): its footprint in WGS 84 and, through the
projection extension, its grid (CRS code, bounds, shape, transform); the campaign's date (the
acquisition date where known, else the campaign year as a period); the image and, where the year
has labels, the mask as assets with their roles; the place's split and the labels' source, gap
and data model. Items with a mask carry the label extension (a raster of class ids, named in the
description).

:func:`validate` checks the collection and its items against the STAC JSON schemas offline: the
core schemas ship with pystac, the extension schemas are vendored in ``geosiam/data/stac/``; a
schema that is in neither place is an error, never a download.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jsonschema
import pystac
from pyproj import CRS
from pystac.extensions.projection import ProjectionExtension
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

STAC_DIR = "stac"
COLLECTION_FILE = "collection.json"
LABEL_EXTENSION = "https://stac-extensions.github.io/label/v1.0.1/schema.json"
EXTENSION_SCHEMAS = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection-v2.0.0.json",
    LABEL_EXTENSION: "label-v1.0.1.json",
}
IMAGE_ROLES = ["data"]
MASK_ROLES = ["labels", "labels-raster"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def campaign(acquisition: str, year: int) -> tuple[datetime | None, datetime, datetime]:
    """(datetime, start, end) of a campaign: the acquisition day where known, else the year
    (or the span ``first-last`` of a mosaic of several surveys) as a period without a datetime."""
    text = str(acquisition or "").strip()
    if _DATE.match(text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day, day, day.replace(hour=23, minute=59, second=59)
    span = [int(y) for y in re.findall(r"\b(\d{4})\b", text)] or [year]
    first, last = min(span), max(span)
    return None, datetime(first, 1, 1, tzinfo=UTC), datetime(last, 12, 31, 23, 59, 59, tzinfo=UTC)


def build_collection(tiles, splits: dict[str, str], settings, class_names: dict[int, str], root: Path):
    """The pystac Collection of ``tiles`` (tiles.gpkg as a GeoDataFrame); asset hrefs are the
    absolute paths of the files under the workspace ``root``."""
    grid = settings.grid
    wgs84 = tiles.geometry.to_crs("EPSG:4326")  # a tile is small: its corners suffice
    labels = {
        "label:type": "raster",
        "label:properties": None,  # a raster: its pixel values are the classes
        "label:classes": [{"name": None, "classes": sorted(class_names)}],
        "label:description": _label_description(class_names),
        "label:tasks": ["segmentation"],
        "label:methods": ["automated"],
    }
    items = []
    code = grid.crs if re.match(r"^[A-Z]+:\d+$", grid.crs) else None
    wkt2 = None if code else _wkt2(grid.crs)
    for row, native, footprint in zip(tiles.itertuples(index=False), tiles.geometry, wgs84):
        year = int(row.year)
        moment, start, end = campaign(row.acquisition, year)
        record = settings.labels.years.get(str(year), {})
        properties = {
            "start_datetime": start.isoformat().replace("+00:00", "Z"),
            "end_datetime": end.isoformat().replace("+00:00", "Z"),
            "geosiam:tile_id": row.tile_id,
            "geosiam:year": year,
            "geosiam:split": splits.get(row.tile_id, "unpaired"),
            "geosiam:valid_fraction": _number(row.valid_fraction),
            "geosiam:source": row.origin or None,
            "geosiam:label_source": getattr(row, "label_source", record.get("source")) or None,
            "geosiam:label_gap_years": _number(getattr(row, "label_gap_years", record.get("gap_years"))),
            "geosiam:label_version": record.get("version") or None,
        }
        item = pystac.Item(
            id=f"{row.tile_id}-{year}",
            geometry=footprint.__geo_interface__,
            bbox=list(footprint.bounds),
            datetime=moment,
            properties=properties,
        )
        bounds = native.bounds
        ProjectionExtension.ext(item, add_if_missing=True).apply(
            code=code,
            wkt2=wkt2,
            bbox=list(bounds),
            shape=[grid.tile_px, grid.tile_px],
            transform=[
                grid.tile_size_m / grid.tile_px,
                0.0,
                bounds[0],
                0.0,
                -grid.tile_size_m / grid.tile_px,
                bounds[3],
            ],
        )
        item.add_asset(
            "image",
            pystac.Asset(
                str(root / row.image), "RGB image", media_type=pystac.MediaType.GEOTIFF, roles=IMAGE_ROLES
            ),
        )
        if has_mask(row):
            item.add_asset(
                "mask",
                pystac.Asset(
                    str(root / row.mask), "class mask", media_type=pystac.MediaType.GEOTIFF, roles=MASK_ROLES
                ),
            )
            # the label extension's fields, set directly: pystac's LabelExtension class is deprecated
            item.stac_extensions.append(LABEL_EXTENSION)
            item.properties.update(labels)
        items.append(item)
    collection = pystac.Collection(
        id=_collection_id(root),
        description=(
            f"Aerial image tiles and class masks of the years {', '.join(map(str, settings.years))} on one "
            f"grid ({grid.crs}, {grid.tile_size_m:g} m, {grid.tile_px} px), prepared by geosiam."
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([list(wgs84.total_bounds)]),
            pystac.TemporalExtent(
                [
                    [
                        min(i.common_metadata.start_datetime for i in items),
                        max(i.common_metadata.end_datetime for i in items),
                    ]
                ]
            ),
        ),
        license=_license(settings),
        title=f"geosiam workspace {root.name}",
    )
    collection.add_items(items)
    return collection


def has_mask(row) -> bool:
    """Whether a tiles.gpkg row has a mask (a year without labels has none: empty or null)."""
    return isinstance(row.mask, str) and bool(row.mask)


def write_collection(collection, folder: Path) -> Path:
    """Save ``collection`` self-contained into ``folder`` (replaced whole: a reader sees the old
    collection or the new one); returns the path of collection.json."""
    folder = Path(folder)
    # no dot in the staging name: pystac would take it for a file name
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}-staging")
    try:
        collection.normalize_hrefs(str(staging))
        collection.make_all_asset_hrefs_relative()
        collection.save(pystac.CatalogType.SELF_CONTAINED)
        old = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}-old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return folder / COLLECTION_FILE


def validate(path: str | Path) -> int:
    """Check a collection.json and every item it links against the STAC schemas, offline;
    returns how many objects were checked, raises ValueError naming the first invalid one."""
    schemas = local_schemas()
    registry = Registry(retrieve=_refuse_download).with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT7)) for uri, schema in schemas.items()
    )
    validators: dict[str, jsonschema.Draft7Validator] = {}
    path = Path(path)
    pending, checked = [(path, "collection")], 0
    while pending:
        current, kind = pending.pop()
        stac = json.loads(current.read_text(encoding="utf-8"))
        core = f"https://schemas.stacspec.org/v{stac.get('stac_version')}/{kind}-spec/json-schema/{kind}.json"
        for uri in [core, *stac.get("stac_extensions", [])]:
            if uri not in schemas:
                _refuse_download(uri)
            if uri not in validators:
                validators[uri] = jsonschema.Draft7Validator({"$ref": uri}, registry=registry)
            error = jsonschema.exceptions.best_match(validators[uri].iter_errors(stac))
            if error is not None:
                where = "/".join(map(str, error.absolute_path)) or "top level"
                raise ValueError(f"{current}: invalid against {uri} at {where}: {error.message}")
        checked += 1
        pending += [
            (current.parent / link["href"], "item") for link in stac.get("links", []) if link["rel"] == "item"
        ]
    return checked


def local_schemas() -> dict[str, dict]:
    """Every schema the validation may need, by URI: pystac's core ones and geosiam's vendored
    extension schemas."""
    folder = resources.files("geosiam.data").joinpath("stac")
    vendored = {
        uri: json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        for uri, name in EXTENSION_SCHEMAS.items()
    }
    return get_local_schema_cache() | vendored


def _refuse_download(uri: str):
    raise ValueError(f"the STAC schema {uri} is not available offline (vendor it in geosiam/data/stac/)")


def _label_description(class_names: dict[int, str]) -> str:
    listed = ", ".join(f"{i} {name}" for i, name in sorted(class_names.items()))
    return f"Class ids burnt from topographic vectors (BD TOPO or the user's): {listed}."


def _wkt2(crs: str) -> str:
    return CRS.from_user_input(crs).to_wkt()


def _number(value) -> float | None:
    """A JSON-safe number: None for missing or NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _collection_id(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(root).resolve().name).strip("-")
    return f"geosiam-{name or 'workspace'}"


def _license(settings) -> str:
    """IGN's open data are under the Licence Ouverte 2.0 (SPDX etalab-2.0); other sources vary."""
    local = settings.area.sample or settings.sources.ortho
    return "other" if local else "etalab-2.0"
