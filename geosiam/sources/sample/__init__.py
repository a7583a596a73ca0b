"""The built-in sample area: a synthetic landscape written in IGN's own layout and formats.

The rest of geosiam uses what is imported here. Inside, one module per step:

- :mod:`.world`: what stands on the ground in any year, drawn once from a seed;
- :mod:`.render`: one year's campaign of that world as orthophoto pixels;
- :mod:`.topo`: one year's BD TOPO v3 edition of it; :mod:`.topo2` recasts it as a 2.x one;
- :mod:`.changes`: the ground truth of change between any two years;
- :mod:`.generator`: the files, in IGN's delivery layout, a year at a time.
"""

from geosiam.sources.sample.generator import (
    SAMPLE_GRID,
    SAMPLE_LAYOUT,
    SampleLayout,
    check_sample,
    generate,
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
