"""The workspace tables: a GeoPackage layer written atomically, with its QGIS style, read back."""

import geopandas as gpd
import shapely

from geosiam.tiling.tables import SPLIT_STYLE, read_geopackage, read_pairs, write_geopackage
from tests.qgis_desktop import stored_style


def pairs(splits):
    return gpd.GeoDataFrame(
        {"pair_id": [f"p{i}" for i in range(len(splits))], "split": splits},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(splits))],
        crs="EPSG:2154",
    )


def test_a_table_round_trips_with_its_style_and_no_temporary_file(tmp_path):
    path = tmp_path / "pairs.gpkg"
    write_geopackage(pairs(["train", "val", "test", "train"]), path, "pairs", SPLIT_STYLE)
    back = read_geopackage(path, "pairs")
    assert back["pair_id"].tolist() == ["p0", "p1", "p2", "p3"] and back.crs.to_epsg() == 2154
    assert read_pairs(path, "train")["pair_id"].tolist() == ["p0", "p3"]
    assert len(read_pairs(path)) == 4
    style = stored_style(path, "pairs")
    assert style["attribute"] == "split" and [c[0] for c in style["classes"]] == ["train", "val", "test"]
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.gpkg"]


def test_writing_again_replaces_the_layer_whole(tmp_path):
    path = tmp_path / "tiles.gpkg"
    write_geopackage(pairs(["train"] * 3), path, "tiles")
    write_geopackage(pairs(["val"]), path, "tiles")
    assert read_geopackage(path, "tiles")["split"].tolist() == ["val"]
