import pytest

from geosiam.errors import ClassTableError
from geosiam.rasterize.classes import load_classes, parse_classes

GOOD = """
[[classes]]
id = 1
name = "forest"
colour = "#00FF00"
priority = 10
  [[classes.rules]]
  layer = "landuse"
  where = { landuse = ["forest"] }

[[classes]]
id = 2
name = "building"
colour = "#FF0000"
priority = 50
  [[classes.rules]]
  layer = ["buildings", "Batiment"]
"""


def test_builtin_table_covers_bd_topo_v3():
    table = load_classes()
    names = {c.name for c in table.classes}
    assert {"building", "road", "railway", "water", "vegetation", "sport", "cemetery"} <= names
    assert {"batiment", "troncon_de_route", "zone_de_vegetation", "cimetiere"} <= table.layers
    road = next(c for c in table.classes if c.name == "road")
    assert road.rules[0].width_attribute == "largeur_de_chaussee"
    assert road.rules[0].width_by["Chemin"] > 0
    assert table.num_classes == max(c.id for c in table.classes) + 1


def test_custom_table_parses():
    table = parse_classes(GOOD)
    assert [c.id for c in table.classes] == [1, 2]
    assert table.classes[1].colour == (255, 0, 0)
    assert table.classes[1].rules[0].matches_layer("BATIMENT")
    assert table.colours()[0] == (0, 0, 0)


@pytest.mark.parametrize(
    "broken, message",
    [
        (GOOD.replace('colour = "#FF0000"', 'colour = "red"'), r"line 11 \(class 'building'\).*#RRGGBB"),
        (GOOD.replace("id = 2", "id = 1"), "share id 1"),
        (GOOD.replace("id = 2", "id = 0"), "line 11.*0 is background"),
        (GOOD.replace('layer = "landuse"', 'layr = "landuse"'), "line 2.*unknown key.*layr"),
        (GOOD.replace("priority = 50", "priority = 50\nsize = 3"), "line 11.*unknown key.*size"),
        (GOOD.replace('name = "forest"', 'name = "forest'), "line 4"),
        ("", "no \\[\\[classes\\]\\]"),
    ],
)
def test_errors_name_the_line_and_the_problem(broken, message):
    with pytest.raises(ClassTableError, match=message):
        parse_classes(broken)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ClassTableError, match="cannot read class table"):
        load_classes(tmp_path / "nope.toml")


def test_the_readme_example_table_parses():
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    table = parse_classes(example)
    assert [c.name for c in table.classes] == ["forest", "road"]
    assert table.classes[1].rules[0].width_by["motorway"] == 20.0


def test_bd_topo_2_table_shares_the_v3_class_ids_names_and_colours():
    v3, v2 = load_classes(version="3"), load_classes(version="2")
    assert load_classes().text == v3.text and "2.x" in v2.text
    same = [(c.id, c.name, c.colour, c.priority, c.all_touched) for c in v3.classes]
    assert sorted(same) == sorted((c.id, c.name, c.colour, c.priority, c.all_touched) for c in v2.classes)
    assert {"bati_indifferencie", "route", "zone_vegetation", "surface_eau", "cimetiere"} <= v2.layers
    road = next(c for c in v2.classes if c.name == "road")
    assert road.rules[0].width_attribute == "largeur" and road.rules[0].width_by["Autoroute"] > 0
