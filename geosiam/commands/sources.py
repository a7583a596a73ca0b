"""``geosiam sources``: which BD ORTHO and BD TOPO editions IGN offers for an area."""

from __future__ import annotations

from pathlib import Path

import typer

from geosiam.commands.options import JSON, messages_to_stderr, print_json
from geosiam.errors import SettingsError
from geosiam.sources.area import area_bounds


def sources(
    dept: list[str] = typer.Option(None, "--dept", help="IGN département code (repeatable): 54, 2A, 971."),
    bbox: tuple[float, float, float, float] = typer.Option(
        None, "--bbox", help="Area as xmin ymin xmax ymax in EPSG:2154 (Lambert-93 metres)."
    ),
    aoi: Path = typer.Option(
        None, "--aoi", exists=True, dir_okay=False, help="Area as a vector file (any CRS)."
    ),
    ign_url: str = typer.Option(
        "https://data.geopf.fr", "--ign-url", envvar="GEOSIAM_IGN_URL", help="Root of IGN's services."
    ),
    request_interval: float = typer.Option(
        1.0, "--request-interval", min=0, help="Seconds between requests (IGN refuses faster clients)."
    ),
    sizes: bool = typer.Option(
        True, "--sizes/--no-sizes", help="Read each edition's size (one request each)."
    ),
    as_json: bool = JSON,
) -> None:
    """List the BD ORTHO (RGB) and BD TOPO (GPKG) editions available for an area, and WMS-R years.

    Reads IGN's download-service feeds (all pages); nothing is downloaded. `geosiam prepare
    --years` can use a year with an archive, else a year a WMS-R layer covers.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.config import HttpSettings
    from geosiam.sources import ign, wms
    from geosiam.sources.download import HttpClient

    if not (dept or bbox or aoi):
        raise SettingsError("no area given: use --dept 54, --bbox xmin ymin xmax ymax or --aoi FILE")
    bounds = area_bounds(bbox, str(aoi) if aoi else "", "EPSG:2154")
    with messages_to_stderr(as_json), HttpClient(HttpSettings(request_interval_s=request_interval)) as client:
        codes = ign.area_departements(client, ign_url, list(dept or []), bounds)
        editions = ign.list_editions(client, ign_url, list(codes), sizes=sizes)
        layers = wms.capabilities(client, ign_url).layers
    spans = [s for s in (wms.layer_years(name) for name in layers) if s]
    if as_json:
        print_json(editions_json(editions, spans))
        return
    print(format_editions(editions))
    years = ign.describe_spans(spans) or "none"
    print(f"WMS-R orthophoto layers (fallback for years without an archive): {years}")


def editions_json(editions, spans: list[tuple[int, int]]) -> dict:
    """``sources --json``: one record per edition, and the years the WMS-R layers cover."""
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.sources.ign import ORTHO

    records = [
        {
            "departement": e.code,
            "product": "BD ORTHO" if e.delivery.resource == ORTHO else "BD TOPO",
            "year": e.delivery.year,
            "edition": e.delivery.edition,
            "version": e.delivery.version,
            "resolution": e.delivery.resolution or None,
            "format": e.delivery.format,
            "size_bytes": e.size,
            "delivery": e.delivery.name,
        }
        for e in editions
    ]
    return {
        "editions": records,
        "wms_years": sorted({y for first, last in spans for y in range(first, last + 1)}),
    }


def format_editions(editions) -> str:
    """One table per département: product, year or edition, version, resolution, format, size, name."""
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.sources.ign import ORTHO, describe_size

    header = ("product", "edition", "version", "resolution", "format", "size", "delivery")
    blocks = []
    for code in dict.fromkeys(e.code for e in editions):
        rows = [header]
        ordered = sorted(
            (e for e in editions if e.code == code), key=lambda e: (e.delivery.resource, e.delivery.edition)
        )
        for e in ordered:
            d = e.delivery
            product = "BD ORTHO RVB" if d.resource == ORTHO else "BD TOPO"
            edition = str(d.year) if d.resource == ORTHO else d.edition
            rows.append(
                (product, edition, d.version, d.resolution or "-", d.format, describe_size(e.size), d.name)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        blocks.append(f"Département {code}\n" + "\n".join("  " + line for line in lines))
    return "\n\n".join(blocks) if blocks else "No edition found for this area."
