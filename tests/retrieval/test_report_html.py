"""report.html: self-contained, with intervals, curves, a map of the places and their top 5;
opened in headless Chromium as a user would (skipped, with the reason, without Chromium)."""

import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image

from geosiam.retrieval.report_html import REPORT_HTML, write_report_html
from tests.browser import Browser, chromium_binary

N = 12
RANKS = [1, 3, 0, 1, 2, 1, 7, 1, 1, 5, 1, 1]  # place 1: third; place 2: not in the top 10
CLASSES = {0: ("background", (0, 0, 0)), 1: ("building", (200, 0, 0)), 2: ("water", (0, 0, 220))}


def neighbours_for(ranks):
    """(N, 10) answers in which query i's own place i is at ``ranks[i]`` (0: absent)."""
    rows = []
    for i, rank in enumerate(ranks):
        others = [j for j in range(N) if j != i][:10]
        if rank:
            others.insert(rank - 1, i)
        rows.append(others[:10])
    return np.array(rows)


def metrics(detection=None):
    figures = {"map_at_5": 0.75, "recall_at_1": 0.6, "recall_at_5": 0.9, "recall_at_10": 0.95, "n_queries": N}
    directions = {
        "newer_to_older": {
            "model": figures | {"map_at_5_ci": [0.6, 0.85], "recall_at_1_ci": [0.45, 0.75]},
            "pixels_rgb": figures | {"map_at_5": 0.25, "map_at_5_ci": [None, None]},
        }
    }
    found = {
        "run": "r1",
        "split": "test",
        "n_pairs": N,
        "years": {"older": 2000, "newer": 2015},
        "directions": directions,
        "modes": {
            "fused": {
                "directions": directions,
                "differences": {
                    "newer_to_older": {
                        "pixels_rgb": {"map_at_5": 0.5, "map_at_5_ci": [0.3, 0.7], "verdict": "above"}
                    }
                },
            }
        },
        "models": {
            "model": {"description": "the trained run r1", "run": "r1", "recipe": {"epochs": 30}},
            "pixels_rgb": {"description": "raw pixels", "run": None, "recipe": None},
        },
        "skipped": {"untrained": "no weights <here>"},
    }
    if detection:
        found["change_detection"] = detection
    return found


@pytest.fixture
def report(tmp_path):
    """A report written from tiny made-up evaluation results, with history and recall chart."""
    rng = np.random.default_rng(0)
    run = tmp_path / "runs" / "r1"
    out = run / "eval"
    out.mkdir(parents=True)
    (run / "history.csv").write_text(
        "epoch,loss,mined,train_map5,val_map5\n1,0.9,1,0.4,0.3\n2,0.7,0,,\n3,0.6,1,0.7,0.5\n",
        encoding="utf-8",
    )
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(out / "recall_at_k.png")
    corners = [(930000 + 250 * (i % 4), 6860000 + 250 * (i // 4)) for i in range(N)]  # 4 x 3 places
    pairs = gpd.GeoDataFrame(
        {"tile_id_a": [f"a{i}" for i in range(N)], "tile_id_b": [f"b{i}" for i in range(N)]},
        geometry=[shapely.box(x, y, x + 250, y + 250) for x, y in corners],
        crs="EPSG:2154",
    )
    neighbours = neighbours_for(RANKS)
    retrieval = SimpleNamespace(
        ranks=np.array(RANKS), neighbours=neighbours, scores=np.sort(rng.random((N, 10)))[:, ::-1]
    )
    images = (
        rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 3, (N, 32, 32), dtype=np.uint8),
        rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8),
    )
    detection = {
        "model": {"auroc": 0.81, "auroc_ci": [0.7, 0.9], "precision_at_k": 0.5},
        "pixels_rgb": {
            "auroc": 0.6,
            "auroc_ci": [None, None],
            "precision_at_k": 0.25,
            "model_vs_this": "above",
        },
        "changed_places": 4,
    }
    labels = {"model": "trained (r1)", "pixels_rgb": "pixels: image"}
    path = write_report_html(
        out, metrics(detection), labels, pairs, retrieval, images, CLASSES, np.linspace(0, 0.5, N)
    )
    return path


class Links(HTMLParser):
    """Every src and href of a page, and its elements' names."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def page_data(text):
    found = re.search(r'<script type="application/json" id="geosiam-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_the_page_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert report.name == REPORT_HTML
    links = Links()
    links.feed(text)
    assert links.urls and all(u.startswith(("data:image/", "#")) for u in links.urls), links.urls
    assert "link" not in links.tags and "iframe" not in links.tags
    assert "http:" not in text and "https:" not in text and "//cdn" not in text
    assert "default-src 'none'" in text  # and the browser is told to refuse any request
    assert 30_000 < len(text) < 400_000  # thumbnails are small


def test_tables_show_intervals_where_eval_computed_them(report):
    text = report.read_text(encoding="utf-8")
    assert '<td>0.750 <span class="ci">[0.600, 0.850]</span></td>' in text
    assert '<td>0.600 <span class="ci">[0.450, 0.750]</span></td>' in text
    assert "<td>0.250</td>" in text  # the baseline has no interval (too few blocks)
    assert "<h3>fused: image and map in both years</h3>" in text
    assert "trained (r1) is <b>above</b> pixels: image: MAP@5 +0.500" in text
    assert 'the trained run r1 <span class="recipe">recipe: epochs 30</span>' in text
    assert "no weights &lt;here&gt;" in text  # what was skipped, escaped
    assert (
        "<h2>Change detection</h2>" in text
        and '<td>0.810 <span class="ci">[0.700, 0.900]</span></td>' in text
    )
    assert "<td>0.600</td><td>0.250</td><td>above</td>" in text and "<td>–</td>" in text  # the run's own
    assert "<li>changed_places: 4</li>" in text
    assert text.count('alt="training loss and MAP@5 by epoch" src="data:image/png;base64,') == 1
    assert 'alt="recall at k, per model" src="data:image/png;base64,' in text


def test_the_places_carry_rank_top_answers_footprints_and_thumbnails(report):
    data = page_data(report.read_text(encoding="utf-8"))
    places = data["places"]
    assert len(places) == N and [p["rank"] for p in places] == RANKS
    assert places[1]["top"][2][0] == 1 and len(places[1]["top"]) == 5  # its own place, third
    assert places[5]["b"] == [930250.0, 6860250.0, 930500.0, 6860500.0] and places[5]["id"] == "b5"
    assert places[-1]["d"] == pytest.approx(0.5)
    assert len(data["query"]) == len(data["mask"]) == len(data["database"]) == N
    assert data["query"][0].startswith("data:image/jpeg;base64,") and data["mask"][0].startswith(
        "data:image/png"
    )
    assert data["classes"]["1"] == ["building", "#c80000"] and set(data["present"][0]) <= {0, 1, 2}


def test_without_change_detection_there_is_no_change_section(tmp_path):
    pairs = gpd.GeoDataFrame(
        {"tile_id_a": ["a"], "tile_id_b": ["b"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:2154"
    )
    retrieval = SimpleNamespace(ranks=np.array([1]), neighbours=np.array([[0]]), scores=np.array([[1.0]]))
    tiles = np.zeros((1, 8, 8, 3), np.uint8)
    one = {k: v for k, v in metrics().items() if k != "modes"} | {"n_pairs": 1, "models": {"model": "a run"}}
    path = write_report_html(tmp_path / "eval", one, {}, pairs, retrieval, (tiles, None, tiles), CLASSES)
    text = path.read_text(encoding="utf-8")
    assert "Change detection" not in text and "this run has no history.csv" in text
    assert "fused: image and map" not in text  # one setting: no setting headings
    assert "<b>model</b>: a run" in text
    assert page_data(text)["mask"] == [] and page_data(text)["places"][0]["d"] is None


CHROMIUM = chromium_binary()


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here (apt-get install chromium, or set GEOSIAM_CHROMIUM)"
)
def test_chromium_opens_the_report_draws_the_map_and_shows_a_places_top_5(report, tmp_path):
    pytest.importorskip("websockets", reason="the DevTools client needs the websockets package (dev extra)")
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(report.as_uri())
        assert browser.evaluate("document.documentElement.dataset.mapReady") == str(N)
        assert browser.evaluate("document.querySelectorAll('#map .place').length") == N
        browser.evaluate("document.getElementById('map').scrollIntoView()")
        # the third place (index 1): its true match is third of its top 5
        x, y = browser.evaluate(
            "(() => { const r = document.querySelector('#map .place[data-i=\"1\"]').getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        browser.click(x, y)
        shown = browser.evaluate(
            "[...document.querySelectorAll('#details .top5 li')].map(li => [li.className, li.textContent])"
        )
        assert browser.evaluate("document.getElementById('details').dataset.place") == "b1"
        assert len(shown) == 5 and [c for c, _ in shown].index("true-match") == 2
        assert "true match" in shown[2][1] and [c for c, _ in shown].count("true-match") == 1
        assert browser.evaluate("document.querySelectorAll('#details img').length") == 7  # query, mask, 5
        browser.screenshot(tmp_path / "map.png")
        # zoomed in, the places show their imagery
        map_box = browser.evaluate(
            "(() => { const r = document.getElementById('map').getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for _ in range(3):
            browser.wheel(*map_box, -400)
        assert browser.evaluate("document.getElementById('map').classList.contains('zoomed')")
        assert browser.evaluate(
            "[...document.querySelectorAll('#map image')].every(i => i.getBBox().width > 0)"
        )
        browser.screenshot(tmp_path / "zoomed.png")
        errors, requests = browser.errors(), browser.requests()
    assert errors == []
    assert [u for u in requests if not u.startswith("data:") and u != report.as_uri()] == []
    picture = np.asarray(Image.open(tmp_path / "map.png").convert("RGB"))
    green = np.all(np.abs(picture.astype(int) - [0x1A, 0x96, 0x41]) < 3, axis=-1)
    assert green.sum() > 2000  # the rank-1 places are outlined in the failure map's green
