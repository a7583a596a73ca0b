"""IGN's Atom feeds against the stand-in server: paging, parsing, the files of a delivery."""

import pytest

from geosiam.config import HttpSettings
from geosiam.errors import DownloadError
from geosiam.sources.download import HttpClient
from geosiam.sources.ign.deliveries import archive_parts
from geosiam.sources.ign.feeds import delivery_files, list_deliveries, parse_feed
from tests.fake_geoplateforme import (
    listed_only,
    populate_dept54,
)
from tests.sources.ign.common import ORTHO_2015, delivery

# -- feeds ----------------------------------------------------------------------------------------


def test_feed_paging_reads_every_page_with_the_largest_limit(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path)
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        found = list_deliveries(http, geoplateforme.url, "BDORTHO", "D054")
    names = {d.name for d in found}
    assert ORTHO_2015 in names and len(found) == 60 + 5  # the graph is not a delivery; D057 filtered
    queries = [q for path, q, _ in geoplateforme.requests if path.endswith("/resource/BDORTHO")]
    assert [(q["page"], q["limit"], q["zone"]) for q in queries] == [("1", "50", "D054"), ("2", "50", "D054")]


def test_feed_paging_with_totalentries_only(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path)
    geoplateforme.pagecount = False
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        assert len(list_deliveries(http, geoplateforme.url, "BDORTHO", "D054")) == 65


def test_detail_feed_gives_parts_lengths_and_local_urls(geoplateforme, tmp_path):
    made = populate_dept54(geoplateforme, tmp_path)
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        files = delivery_files(http, geoplateforme.url, delivery(ORTHO_2015))
    parts = archive_parts(delivery(ORTHO_2015), files)
    assert [f.name for f in parts] == [f"{ORTHO_2015}.7z.00{i}" for i in (1, 2, 3)]
    assert [f.length for f in parts] == [len(made["ortho"].files[f.name]) for f in parts]
    assert all(f.url.startswith(geoplateforme.url + "/telechargement/download/BDORTHO/") for f in files)


def test_parse_feed_reads_gpf_dl_attributes():
    text = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:gpf_dl="https://data.geopf.fr/annexes/ressources/xsd/'
        'gpf_dl.xsd" gpf_dl:pagecount="141" gpf_dl:totalentries="1405"><entry>'
        "<title>BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D075_2024-01-01</title>"
        '<link href="https://data.geopf.fr/telechargement/resource/BDORTHO/X" type="application/atom+xml"/>'
        '<gpf_dl:zone term="D075" label="D075 Paris"/><gpf_dl:editionDate>2024-01-01</gpf_dl:editionDate>'
        "</entry></feed>"
    )
    page = parse_feed(text)
    assert (page.pagecount, page.totalentries) == (141, 1405)
    entry = page.entries[0]
    assert (entry.zone, entry.edition_date, entry.type) == ("D075", "2024-01-01", "application/atom+xml")
    with pytest.raises(DownloadError, match="not an Atom feed"):
        parse_feed("<html/>")


def test_zone_filter_is_also_applied_client_side(geoplateforme, tmp_path):
    geoplateforme.add(
        listed_only("BDORTHO", "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D057_2015-01-01", "D054", "2015-01-01")
    )
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        assert list_deliveries(http, geoplateforme.url, "BDORTHO", "D054") == []
