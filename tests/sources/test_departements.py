"""Département codes, IGN zone names, and the WFS that says where départements lie."""

import re

import pytest

from geosiam.config import HttpSettings
from geosiam.errors import DownloadError, SettingsError
from geosiam.sources import departements
from geosiam.sources.download import HttpClient
from tests.fake_geoplateforme import DEPT54, DEPT57


@pytest.mark.parametrize(
    "given, code, zone",
    [
        ("54", "54", "D054"),
        ("054", "54", "D054"),
        ("D054", "54", "D054"),
        ("1", "01", "D001"),
        ("2a", "2A", "D02A"),
        ("02B", "2B", "D02B"),
        ("971", "971", "D971"),
    ],
)
def test_codes_and_zones(given, code, zone):
    assert departements.normalise_code(given) == code and departements.zone_of(given) == zone


@pytest.mark.parametrize("bad", ["20", "96", "2C", "abc", ""])
def test_unknown_codes_list_the_valid_ones(bad):
    listed = [f"unknown département '{bad}': use a code among 01, 02,", "19, 2A, 2B, 21,", "95, 971,"]
    with pytest.raises(SettingsError, match=".*".join(map(re.escape, listed))):
        departements.normalise_code(bad)


@pytest.mark.parametrize("code_property", ["code_insee", "insee_dep"])
def test_wfs_finds_the_departements_of_a_bbox(geoplateforme, code_property):
    geoplateforme.departements = {"54": DEPT54, "57": DEPT57}
    geoplateforme.code_property = code_property
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        assert departements.departements(http, geoplateforme.url, (905000, 6846000, 906000, 6847000)) == {
            "54": DEPT54
        }
        assert set(
            departements.departements(http, geoplateforme.url, (909000, 6846000, 911000, 6847000))
        ) == {"54", "57"}
        assert departements.departement_bounds(http, geoplateforme.url, ["57"]) == {"57": DEPT57}
        with pytest.raises(DownloadError, match="has no département 88: check --ign-url"):
            departements.departement_bounds(http, geoplateforme.url, ["88"])
