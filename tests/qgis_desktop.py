"""Open files in a real QGIS (PyQGIS of the system Python) from the tests; skip where it is absent.

QGIS is not installed in CI; on a machine with Debian's ``python3-qgis`` these tests check that
QGIS applies geosiam's styles and colour tables on open. ``QGIS_PYTHON`` names another interpreter.
"""

import functools
import json
import os
import subprocess
import sys
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
