"""The built-in sample area: a synthetic landscape written in IGN's own layout and formats.

The rest of geosiam uses what is imported here. Inside, one module per step:

- :mod:`.world`: what stands on the ground in any year; :mod:`.landscape` draws it from a seed,
  with :mod:`.shapes`;
- :mod:`.render`: one year's campaign of that world as orthophoto pixels;
- :mod:`.topo`: one year's BD TOPO v3 edition of it; :mod:`.topo2` recasts it as a 2.x one;
- :mod:`.changes`: the ground truth of change between any two years;
- :mod:`.layout`: where the sample lies, its dalles, and the grid it is meant for;
- :mod:`.delivery`: IGN's names and folders for its files; :mod:`.writers`: IGN's file formats;
- :mod:`.generator`: the files, a year at a time, resumable.

What it writes runs through the same code as IGN's real deliveries, offline.
"""

from geosiam.sources.sample.generator import generate
from geosiam.sources.sample.layout import (
    SAMPLE_GRID,
    SAMPLE_LAYOUT,
    SampleLayout,
    check_sample,
    sample_grid,
    sample_layout,
)

__all__ = [
    "SAMPLE_GRID",
    "SAMPLE_LAYOUT",
    "SampleLayout",
    "check_sample",
    "generate",
    "sample_grid",
    "sample_layout",
]
