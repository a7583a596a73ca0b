"""Options shared by several commands, declared once."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
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


JSON = typer.Option(
    False,
    "--json",
    help="Print the result as JSON on stdout (keys documented in README.md); messages go to stderr.",
)


@contextlib.contextmanager
def messages_to_stderr(enabled: bool) -> Iterator[None]:
    """While a ``--json`` command works, what it prints goes to stderr: stdout holds the JSON only."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def print_json(data) -> None:
    """``data`` as JSON on stdout: numpy numbers as numbers, NaN and infinities as null."""
    sys.stdout.write(json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_year_map(values: list[str] | None, option: str) -> dict[str, str]:
    """``["2000=PATH", ...]`` -> ``{"2000": "PATH"}``; a malformed item is a one-line error."""
    mapping: dict[str, str] = {}
    for item in values or []:
        year, sep, value = item.partition("=")
        if not sep or not year.strip().isdigit() or not value.strip():
            raise SettingsError(f"{option} expects YEAR=VALUE, got '{item}': e.g. {option} 2015=ortho/")
        mapping[year.strip()] = value.strip()
    return mapping


def parse_bands(value: str | None) -> list[int] | None:
    """``"4,3,2"`` -> ``[4, 3, 2]``: three 1-based band numbers read as red, green, blue."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise SettingsError(f"--bands expects three band numbers R,G,B, got '{value}': e.g. --bands 3,2,1")
    return [int(p) for p in parts]
