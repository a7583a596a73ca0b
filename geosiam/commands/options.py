"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path

import typer

from geosiam.errors import SettingsError

WORKSPACE = typer.Option(
    Path("."),
    "--workspace",
    "-w",
    envvar="GEOSIAM_WORKSPACE",
    file_okay=False,
    help="Workspace folder (settings, tiles, masks, runs).",
    show_default=True,
)


def parse_year_map(values: list[str] | None, option: str) -> dict[str, str]:
    """``["2000=PATH", ...]`` -> ``{"2000": "PATH"}``; a malformed item is a one-line error."""
    mapping: dict[str, str] = {}
    for item in values or []:
        year, sep, value = item.partition("=")
        if not sep or not year.strip().isdigit() or not value.strip():
            raise SettingsError(f"{option} expects YEAR=VALUE, got '{item}': e.g. {option} 2015=ortho/")
        mapping[year.strip()] = value.strip()
    return mapping
