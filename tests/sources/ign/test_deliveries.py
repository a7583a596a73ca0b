"""IGN's deliveries and dalles by name, and the choice of each year's edition (pure)."""

import pytest

from geosiam.errors import SourceError
from geosiam.sources.ign.deliveries import choose_ortho, choose_topo, dalle_bounds, dalle_step, pick_dalles
from tests.sources.ign.common import delivery

# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fields",
    [
        (
            "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D075_2024-01-01",
            dict(
                product="BDORTHO",
                version="2-0",
                bands="RVB",
                resolution="0M20",
                format="JP2-E080",
                crs="LAMB93",
                zone="D075",
                edition="2024-01-01",
            ),
        ),
        ("ORTHOHR_1-0_RVB-0M20_JP2-E080_LAMB93_D006_2020-01-01", dict(product="ORTHOHR", zone="D006")),
        ("BDORTHO_1-0_RVB-0M20_JP2-E080_LAMB93_D02A_2021-01-01", dict(zone="D02A", version="1-0")),
        ("BDORTHO_2-0_RVB-0M50_JP2-E080_UTM20W84GUAD_D971_2022-01-01", dict(crs="UTM20W84GUAD", zone="D971")),
        ("BDORTHO_1-0_IRC-0M15_JP2-E080_LAMB93_D075_2021-01-01", dict(bands="IRC", resolution="0M15")),
        (
            "BDTOPO_3-5_TOUSTHEMES_GPKG_LAMB93_D031_2026-06-15",
            dict(product="BDTOPO", version="3-5", format="GPKG", zone="D031", edition="2026-06-15"),
        ),
        ("BDTOPO_3-3_TOUSTHEMES_GPKG_RGAF09UTM20_D978_2024-03-15", dict(crs="RGAF09UTM20", zone="D978")),
    ],
)
def test_delivery_names(name, fields):
    parsed = delivery(name)
    assert {key: getattr(parsed, key) for key in fields} == fields


def test_other_entries_are_not_deliveries():
    assert delivery("BDORTHO_2-0_GRAPHE-MOSAIQUAGE_LAMB93_D075_2024-01-01") is None
    assert delivery("readme.pdf") is None


def test_resolution_in_metres():
    assert [
        delivery(f"BDORTHO_2-0_RVB-{r}_JP2-E080_LAMB93_D075_2024-01-01").resolution_m
        for r in ("0M50", "0M20", "0M15", "5M00")
    ] == [0.5, 0.2, 0.15, 5.0]


@pytest.mark.parametrize(
    "name, bounds",
    [
        ("21-2017-0785-6715-LA93-0M50-E080.jp2", (785000, 6710000, 790000, 6715000)),  # Y is the top edge
        ("49-2022-0440-6700-LA93-0M20-IRC-E080.jp2", (440000, 6695000, 445000, 6700000)),
        ("974-2022-0340-7640-U40S-0M20-E080.jp2", (340000, 7635000, 345000, 7640000)),
        ("2A-2021-1175-6130-LA93-0M20-E080.jp2", (1175000, 6125000, 1180000, 6130000)),
        ("metadata.xml", None),
    ],
)
def test_dalle_bounds(name, bounds):
    assert dalle_bounds(name) == bounds


def test_pick_dalles_in_the_area_with_their_companions():
    base = "D/BDORTHO/1_DONNEES/BDO/"
    names = [
        base + n
        for n in (
            "54-2015-0900-6850-LA93-0M50-E080.jp2",
            "54-2015-0905-6850-LA93-0M50-E080.jp2",
            "54-2015-0900-6850-LA93-0M50-E080.tab",
            "54-2015-0905-6850-LA93-0M50-E080.tab",
            "metadata.xml",
        )
    ]
    picked = pick_dalles(names, (901000, 6846000, 902000, 6847000))
    assert sorted(picked) == sorted([names[0], names[2]])
    assert sorted(pick_dalles(names, None)) == sorted(names[:4])


def test_dalle_size_is_read_from_the_names():
    names = ["54-2004-0900-6850-LA93-0M50-E080.jp2", "54-2004-0901-6850-LA93-0M50-E080.jp2"]
    assert dalle_step(names) == 1000
    assert pick_dalles(names, (901500, 6849000, 901600, 6849100)) == [names[1]]
    assert dalle_step(names[:1]) == 5000


# -- choices --------------------------------------------------------------------------------------

ORTHOS = [
    delivery(n)
    for n in (
        "BDORTHO_1-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_IRC-0M50_JP2-E080_LAMB93_D054_2012-01-01",
        "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D057_2012-01-01",
    )
]


def test_choose_ortho_prefers_coarsest_then_version_2():
    assert choose_ortho(ORTHOS, 2015, "D054").name == "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01"
    assert choose_ortho(ORTHOS, 2015, "D054", "0M20").resolution == "0M20"
    assert choose_ortho(ORTHOS, 2012, "D054") is None  # IRC only; D057 is another zone
    with pytest.raises(SourceError, match="exists at 0M20, 0M50, not 0M15: use --resolution 0M20"):
        choose_ortho(ORTHOS, 2015, "D054", "0M15")


TOPOS = [
    delivery(n)
    for n in (
        "BDTOPO_3-0_TOUSTHEMES_GPKG_LAMB93_D054_2019-03-15",
        "BDTOPO_3-3_TOUSTHEMES_GPKG_LAMB93_D054_2023-06-15",
        "BDTOPO_3-4_TOUSTHEMES_GPKG_LAMB93_D054_2024-12-15",
        "BDTOPO_3-4_TOUSTHEMES_SHP_LAMB93_D054_2024-12-15",
        "BDTOPO_3-0_TOUSTHEMES_SHP_LAMB93_D054_2015-06-15",
        "BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D054_2016-06-15",
        "BDTOPO_2-1_TOUSTHEMES_SHP_LAMB93_D054_2012-03-26",
    )
]


def test_choose_topo_nearest_edition_whatever_its_data_model_or_the_one_asked():
    assert choose_topo(TOPOS, 2000, "D054").edition == "2012-03-26"  # the gap is judged later
    assert choose_topo(TOPOS, 2015, "D054").name == "BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D054_2016-06-15"
    assert choose_topo(TOPOS, 2015, "D054").data_model == "2"  # v3 SHP of 2015 is not read
    assert choose_topo(TOPOS, 2019, "D054").edition == "2019-03-15"
    assert choose_topo(TOPOS, 2023, "D054").edition == "2023-06-15"
    assert choose_topo(TOPOS, 2030, "D054").format == "GPKG"  # GPKG over SHP for one edition
    assert choose_topo(TOPOS, 2000, "D054", "2019-03-15").version == "3-0"
    with pytest.raises(
        SourceError, match="no BD TOPO edition 2016-01-01.*2012-03-26, 2016-06-15, 2019-03-15"
    ):
        choose_topo(TOPOS, 2016, "D054", "2016-01-01")
    assert choose_topo(TOPOS, 2015, "D055") is None
