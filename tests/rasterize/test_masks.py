import numpy as np
import rasterio
import shapely
from affine import Affine

from geosiam.rasterize.classes import load_classes, parse_classes
from geosiam.rasterize.masks import burn, write_mask
from geosiam.rasterize.vectors import load_burnables
from geosiam.tiling.grid import Grid
from geosiam.tiling.palette import Palette
from tests.synthetic import write_layers

TRANSFORM = Affine(1.0, 0, 1000, 0, -1.0, 2100)  # 100 x 100 px of 1 m, x 1000..1100, y 2000..2100
SHAPE = (100, 100)
BOUNDS = (1000, 2000, 1100, 2100)


def burnt(tmp_path, layers, table=None):
    path = write_layers(tmp_path / "topo.gpkg", layers)
    shapes = load_burnables([path], table or load_classes(), "EPSG:2154", BOUNDS)
    return burn(shapes, TRANSFORM, SHAPE)


def test_priority_decides_overlaps_whatever_the_file_order(tmp_path):
    building = shapely.box(1020, 2020, 1040, 2040)
    forest = shapely.box(1000, 2000, 1060, 2060)
    mask = burnt(
        tmp_path,
        {
            "batiment": ([building], {"nature": ["Indifférenciée"]}),
            "zone_de_vegetation": ([forest], {"nature": ["Bois"]}),
        },
    )
    assert mask[70, 30] == 7  # building (priority 50) over vegetation (10)
    assert mask[50, 5] == 1
    assert mask[5, 95] == 0


def test_roads_are_buffered_by_their_width_or_nature_default(tmp_path):
    road = shapely.LineString([(1000, 2050), (1100, 2050)])
    path = shapely.LineString([(1050, 2000), (1050, 2100)])
    mask = burnt(
        tmp_path,
        {
            "troncon_de_route": (
                [road, path],
                {
                    "nature": ["Route à 1 chaussée", "Chemin"],
                    "largeur_de_chaussee": [10.0, None],
                    "fictif": [False, False],
                },
            )
        },
    )
    column = mask[:, 10]  # crosses the 10 m road only
    assert 9 <= (column == 5).sum() <= 12
    row = mask[10, :]  # crosses the 3 m path (nature default) only
    assert 3 <= (row == 5).sum() <= 5


def test_z_is_dropped_invalid_geometries_repaired_attributes_filtered(tmp_path):
    bowtie = shapely.Polygon([(1000, 2000, 1), (1050, 2050, 1), (1050, 2000, 1), (1000, 2050, 1)])
    church = shapely.Polygon([(1060, 2060, 9), (1090, 2060, 9), (1090, 2090, 9), (1060, 2090, 9)])
    fictitious = shapely.LineString([(1000, 2095), (1100, 2095)])
    mask = burnt(
        tmp_path,
        {
            "batiment": ([bowtie, church], {"nature": ["Indifférenciée", "Eglise"]}),
            "troncon_de_route": ([fictitious], {"nature": ["Chemin"], "fictif": [True]}),
        },
    )
    assert (mask == 7).sum() > 0  # the self-intersecting polygon was repaired and burnt
    assert mask[20, 75] == 8  # church -> religious building
    assert not (mask == 5).any()  # fictitious road excluded


def test_custom_table_and_layer_from_file_stem(tmp_path):
    table = parse_classes(
        '[[classes]]\nid = 3\nname = "forest"\ncolour = "#00AA00"\n'
        '[[classes.rules]]\nlayer = "osm"\nwhere = { landuse = ["forest"] }\n'
    )
    path = tmp_path / "osm.geojson"
    write_layers(
        path,
        {
            "osm": (
                [shapely.box(1000, 2000, 1050, 2100), shapely.box(1050, 2000, 1100, 2100)],
                {"landuse": ["forest", "meadow"]},
            )
        },
    )
    shapes = load_burnables([path], table, "EPSG:2154", BOUNDS)
    mask = burn(shapes, TRANSFORM, SHAPE)
    assert (mask[:, :50] == 3).all() and (mask[:, 50:] == 0).all()


def test_vectors_are_reprojected_once_to_the_grid(tmp_path):
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    box = shapely.transform(
        shapely.box(1000, 2000, 1050, 2050),
        lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])),
    )
    path = write_layers(
        tmp_path / "w.gpkg", {"batiment": ([box], {"nature": ["Indifférenciée"]})}, crs="EPSG:4326"
    )
    mask = burn(load_burnables([path], load_classes(), "EPSG:2154", BOUNDS), TRANSFORM, SHAPE)
    assert abs((mask == 7).sum() - 2500) < 120
    assert mask[75, 25] == 7 and mask[25, 75] == 0


def test_empty_shapes_burn_background():
    from geosiam.rasterize.vectors import Burnables

    empty = Burnables(np.array([], dtype=object), np.array([], np.uint8), np.array([], bool))
    assert not burn(empty, TRANSFORM, SHAPE).any()


def test_a_bd_topo_2_delivery_burns_into_the_v3_class_ids(tmp_path):
    from tests.synthetic import write_bdtopo2

    paths = write_bdtopo2(
        tmp_path / "BDT_2-2_SHP_LAMB93_D054-ED151",
        {
            "zone_vegetation": ([shapely.box(1000, 2000, 1100, 2040)], {"nature": ["Zone arborée"]}),
            "bati_indifferencie": ([shapely.box(1010, 2060, 1030, 2080)], {"hauteur": [6]}),
            "bati_remarquable": ([shapely.box(1060, 2060, 1080, 2080)], {"nature": ["Eglise"]}),
            "route": (
                [shapely.LineString([(1000, 2050), (1100, 2050)])],
                {"nature": ["Route à 1 chaussée"], "largeur": [6.0], "pos_sol": [0]},
            ),
        },
    )
    assert paths[1].as_posix().endswith("E_BATI/BATI_INDIFFERENCIE.SHP") and paths[1].exists()
    mask = burn(load_burnables(paths, load_classes(version="2"), "EPSG:2154", BOUNDS), TRANSFORM, SHAPE)
    assert mask[80, 50] == 1  # vegetation
    assert mask[30, 20] == 7 and mask[30, 70] == 8  # building, religious building
    assert mask[50, 5] == 5  # road


def test_a_mask_is_written_on_its_tile_grid_with_colours_and_no_nodata(tmp_path):
    grid = Grid("EPSG:2154", 0.0, 0.0, 250.0, 32)
    classes = np.zeros((32, 32), dtype=np.uint8)
    classes[4:8, 4:8] = 7
    write_mask(tmp_path / "m.tif", classes, grid, 2, 5, Palette({7: (255, 0, 0)}, {7: "building"}))
    with rasterio.open(tmp_path / "m.tif") as mask:
        assert mask.bounds == grid.bounds(2, 5) and mask.count == 1 and (mask.read(1) == classes).all()
        assert mask.nodata is None and mask.colormap(1)[7] == (255, 0, 0, 255)
        assert mask.compression.value == "ZSTD" and mask.block_shapes == [(32, 32)]
