"""YearSources saved as JSON by a finished département read back, including records of older versions."""

import json
from dataclasses import asdict
from pathlib import Path

from geosiam.sources.sourceset import YearSources


def test_a_saved_record_reads_back_equal_with_its_paths():
    record = YearSources(
        2015, (Path("a.jp2"),), (Path("t.gpkg"),), origin="ign:X", zone="54", label_name="BDTOPO_X",
        ground_truth=Path("changes.gpkg"),
    )  # fmt: skip
    saved = json.loads(json.dumps(asdict(record), default=str))
    again = YearSources.from_dict(saved)
    assert again == record and again.ground_truth == Path("changes.gpkg")
    assert all(isinstance(p, Path) for p in again.rasters + again.vectors)


def test_a_record_written_before_the_extra_field_went_still_reads():
    saved = {"year": 2019, "rasters": ["b.jp2"], "vectors": [], "zone": "57", "extra": {"topo": "X"}}
    assert YearSources.from_dict(saved) == YearSources(2019, (Path("b.jp2"),), zone="57")
