"""The sha256 of every file of a freshly drawn sample, to show that a change to the generator
keeps what it writes byte for byte (else SAMPLE_GENERATOR_VERSION in geosiam/config.py must change).

    python scripts/sample_checksums.py /tmp/before > before.txt   # on the code before the change
    python scripts/sample_checksums.py /tmp/after > after.txt     # and after it
    cmp before.txt after.txt

GeoPackages record when they were written; OGR_CURRENT_DATE fixes that date so that two runs of
the same generator give the same bytes. Run both on one machine: library versions may change the
bytes too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

os.environ["OGR_CURRENT_DATE"] = "2000-01-01T00:00:00.000Z"  # before GDAL is loaded

from geosiam.config import SampleSettings  # noqa: E402
from geosiam.sources.sample import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="an empty folder to draw the sample in")
    parser.add_argument("--km", type=int, default=8, help="side of the sample (default 8)")
    parser.add_argument(
        "--years", type=int, nargs="+", default=[1990, 2005, 2021],
        help="years to draw (default: a grey one, a 2.x edition's, a v3 edition's)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.folder.exists() and any(args.folder.iterdir()):
        parser.error(f"{args.folder} is not empty: give a new folder (a finished sample is not redrawn)")
    generate(args.folder, args.years, SampleSettings(km=args.km))
    for path in sorted(p for p in args.folder.rglob("*") if p.is_file()):
        print(hashlib.sha256(path.read_bytes()).hexdigest(), path.relative_to(args.folder).as_posix())


if __name__ == "__main__":
    main()
