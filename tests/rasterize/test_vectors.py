"""Vectors to burnable shapes: the layers a rule names, attributes, widths, CRS, repairs, order."""

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geosiam.errors import SourceError
from geosiam.rasterize.classes import parse_classes
from geosiam.rasterize.vectors import layer_names, layers_of, load_burnables
from tests.synthetic import write_layers

BOUNDS = (930000.0, 6860000.0, 931000.0, 6861000.0)
X, Y = BOUNDS[:2]
TABLE = parse_classes("""
[[classes]]
id = 1
name = "vegetation"
colour = "#00FF00"
priority = 10
  [[classes.rules]]
  layer = "zone_de_vegetation"
  where = { nature = ["Forêt"] }

[[classes]]
id = 2
name = "road"
colour = "#888888"
priority = 40
  [[classes.rules]]
  layer = "troncon_de_route"
  exclude = { etat = ["En projet"] }
  width_attribute = "largeur"
  width_m = 4.0

[[classes]]
id = 3
name = "building"
colour = "#FF0000"
priority = 50
  [[classes.rules]]
  layer = "batiment"
""")


def test_the_layers_rules_match_are_lower_case_and_a_one_layer_file_is_its_stem(tmp_path):
    gpkg = write_layers(tmp_path / "topo.gpkg", {"BATIMENT": ([shapely.box(X, Y, X + 1, Y + 1)], {"a": [1]})})
    write_layers(gpkg, {"Troncon_De_Route": ([shapely.box(X, Y, X + 1, Y + 1)], {"a": [1]})})
    assert sorted(layers_of(gpkg)) == ["BATIMENT", "Troncon_De_Route"]
    assert sorted(layer_names(gpkg)) == ["batiment", "troncon_de_route"]
    shp = write_layers(
        tmp_path / "BATIMENT.shp", {"BATIMENT": ([shapely.box(X, Y, X + 1, Y + 1)], {"A": [1]})}
    )
    assert layer_names(shp) == ["batiment"]


def test_features_are_selected_buffered_repaired_reprojected_and_ordered(tmp_path):
    road = shapely.LineString([(X + 100, Y + 500), (X + 900, Y + 500)])  # 800 m long
    path = write_layers(
        tmp_path / "topo.gpkg",
        {
            "batiment": (
                # a bow-tie (invalid) with Z, and a building far outside the area
                [
                    shapely.Polygon([(X, Y, 5), (X + 100, Y + 100, 5), (X + 100, Y, 5), (X, Y + 100, 5)]),
                    shapely.box(X + 5000, Y, X + 5100, Y + 100),
                ],
                {"nature": ["Indifférenciée", "Indifférenciée"]},
            ),
            "troncon_de_route": (
                [road, road, road],
                {"largeur": [10.0, None, 6.0], "etat": ["En service", "En service", "En projet"]},
            ),
            "zone_de_vegetation": (
                [shapely.box(X, Y, X + 1000, Y + 1000), shapely.box(X, Y, X + 500, Y + 500)],
                {"nature": ["Forêt", "Lande"]},
            ),
        },
    )
    shapes = load_burnables([path], TABLE, "EPSG:2154", BOUNDS)
    assert shapes.class_ids.tolist() == [1, 2, 2, 3]  # lowest priority burnt first, overwritten after
    forest, wide, default, building = shapes.geometries
    assert forest.area == pytest.approx(1e6)  # the heath is not a forest
    assert wide.area == pytest.approx(800 * 10.0) and default.area == pytest.approx(800 * 4.0)  # flat caps
    assert building.is_valid and not shapely.has_z(building) and building.area == pytest.approx(5000.0)
    assert len(shapes.within((X + 400, Y + 400, X + 600, Y + 600))) == 3  # forest and both roads


def test_vectors_in_another_crs_are_reprojected_once(tmp_path):
    square = gpd.GeoSeries([shapely.box(X + 200, Y + 200, X + 400, Y + 400)], crs="EPSG:2154").to_crs(
        "EPSG:4326"
    )
    path = write_layers(tmp_path / "wgs84.gpkg", {"batiment": (list(square), {"a": [1]})}, crs="EPSG:4326")
    (building,) = load_burnables([path], TABLE, "EPSG:2154", BOUNDS).geometries
    assert building.bounds == pytest.approx((X + 200, Y + 200, X + 400, Y + 400), abs=0.01)


def test_unreadable_files_and_layers_without_crs_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a geopackage")
    with pytest.raises(SourceError, match="cannot read vector file .*broken.gpkg"):
        load_burnables([broken], TABLE, "EPSG:2154", BOUNDS)
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(X, Y, X + 1, Y + 1)])  # no CRS
    frame.to_file(tmp_path / "nocrs.gpkg", layer="batiment")
    with pytest.raises(SourceError, match="vector layer batiment of .*nocrs.gpkg has no CRS: assign one"):
        load_burnables([tmp_path / "nocrs.gpkg"], TABLE, "EPSG:2154", BOUNDS)
    assert len(load_burnables([], TABLE, "EPSG:2154", BOUNDS)) == 0
    assert np.asarray(load_burnables([], TABLE, "EPSG:2154", BOUNDS).class_ids).dtype == np.uint8
