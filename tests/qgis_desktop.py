"""QGIS styles as the tests see them: read from a GeoPackage's ``layer_styles`` table, and as a
real QGIS (PyQGIS of the system Python) shows them on open, where it is installed.

QGIS is not installed in CI; on a machine with Debian's ``python3-qgis`` the tests check that
QGIS applies geosiam's styles and colour tables on open. ``QGIS_PYTHON`` names another interpreter.
"""

import functools
import json
import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("qgis_probe.py")
QGIS_PYTHON = os.environ.get("QGIS_PYTHON", "/usr/bin/python3")


@functools.cache
def _has_qgis() -> bool:
    if not Path(QGIS_PYTHON).is_file() or Path(QGIS_PYTHON).resolve() == Path(sys.executable).resolve():
        return False
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60)
    return probe.returncode == 0


def qgis_open(*specs: str) -> list[dict]:
    """What QGIS shows for each layer spec (``path`` or ``path|layername=NAME``)."""
    if not _has_qgis():
        pytest.skip(f"QGIS is not installed for {QGIS_PYTHON} (apt-get install python3-qgis)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR="/tmp")
    done = subprocess.run(
        [QGIS_PYTHON, str(PROBE), *specs], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def stored_style(gpkg, layer: str) -> dict:
    """The default style of ``layer`` in ``gpkg``, in :func:`qgis_open`'s shape (renderer type,
    attribute, classes as [value, label, #colour]) as read from its QML."""
    with sqlite3.connect(gpkg) as db:
        found = db.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault", (layer,)
        ).fetchall()
    assert len(found) == 1, f"{len(found)} default styles for {layer}"
    renderer = ET.fromstring(found[0][0].split("\n", 1)[1]).find("renderer-v2")
    colours = {s.get("name"): s.find("layer/prop[@k='color']").get("v") for s in renderer.iter("symbol")}

    def hex_colour(symbol: str) -> str:
        return "#" + "".join(f"{int(c):02x}" for c in colours[symbol].split(",")[:3])

    classes = [
        [c.get("value"), c.get("label"), hex_colour(c.get("symbol"))] for c in renderer.iter("category")
    ]
    return {"renderer": renderer.get("type"), "attribute": renderer.get("attr"), "classes": classes}
