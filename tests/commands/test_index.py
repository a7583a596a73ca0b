"""geosiam index build, and search through the index: kinds, missing descriptors, other models."""

import contextlib
import json
import shutil

import numpy as np
import pytest

import geosiam.retrieval.search as lookup
from geosiam.cli import main
from geosiam.retrieval.search_index import index_path, info_path, run_vectors_path
from tests.cli import run_cli
from tests.retrieval.factory import make_run, make_workspace

QUERY = "x3724_y27440"
PHOTO = ["x3724_y27440", "x3725_y27440"]


def no_exact_search(*args, **kwargs):
    raise AssertionError("search did not use the index")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workspace = make_workspace(tmp_path_factory.mktemp("index-ws"))
    return workspace, make_run(workspace, "fused"), make_run(workspace, "other", seed=5)


@pytest.fixture(scope="module")
def embedded(ws):
    """The fused run's descriptors of both years, made by the command 'index build' names."""
    for year in (2000, 2015):
        out = run_vectors_path(ws[1], year)
        args = ["embed", str(ws[0].tiles_index), "--year", str(year), "--run", "fused", "-o", str(out)]
        with contextlib.suppress(SystemExit):  # 0 on success; a failure leaves no descriptors
            main([*args, "-w", str(ws[0].root), "-q"])
        assert out.exists()
    return ws


def cli(capsys, ws, *args):
    return run_cli(["index", "build", *args, "-w", str(ws[0].root), "-q"], capsys)


def search(capsys, ws, run):
    query = ws[0].tile_path(2015, QUERY)
    return run_cli(["search", str(query), "-k", "3", "--run", run, "-w", str(ws[0].root), "-q"], capsys)


def test_a_run_without_descriptors_is_told_the_command_that_makes_them(ws, capsys):
    code, _, err = cli(capsys, ws, "--run", "fused")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no descriptors of the workspace's 2000 tiles" in err and "geosiam embed" in err
    assert not index_path(ws[1], 2000).exists()


def test_ivf_on_too_few_descriptors_is_a_one_line_error(embedded, capsys):
    ws = embedded
    code, _, err = cli(capsys, ws, "--run", "fused", "--kind", "ivf")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--kind ivf needs at least 624 descriptors" in err and "--kind flat" in err
    assert not index_path(ws[1], 2000).exists()


def test_search_goes_through_the_index_and_finds_the_place(embedded, capsys, monkeypatch):
    ws, kind = embedded, "hnsw"
    code, out, _ = cli(capsys, ws, "--run", "fused", "--kind", kind)
    assert code == 0 and out.count(f"{kind} index of 12 descriptors") == 2
    info = json.loads(info_path(ws[1], 2000).read_text())
    assert info["kind"] == kind and info["rows"] == 12 and info["model"]

    monkeypatch.setattr(lookup, "knn", no_exact_search)
    code, out, err = search(capsys, ws, "fused")
    assert code == 0, err
    assert out.splitlines()[1].split()[2:4] == [QUERY, "2000"] and len(out.splitlines()) == 4


def test_a_photo_search_goes_through_the_index_and_finds_what_exact_search_finds(
    embedded, tmp_path, capsys, monkeypatch
):
    from PIL import Image

    from geosiam.tiling.read import read_tile

    ws = embedded
    shutil.rmtree(ws[1] / "index", ignore_errors=True)
    photo = tmp_path / "print.png"  # two tiles side by side, without georeference
    Image.fromarray(np.concatenate([read_tile(ws[0].tile_path(2015, t)) for t in PHOTO], axis=1)).save(photo)
    args = ["search", str(photo), "--gsd", str(250 / 32), "--year", "2015", "--run", "fused"]
    code, exact, err = run_cli([*args, "-w", str(ws[0].root), "-q"], capsys)
    assert code == 0, err
    assert exact.splitlines()[1].split()[-2:] == PHOTO  # both windows agree on the place
    assert cli(capsys, ws, "--run", "fused", "--kind", "hnsw")[0] == 0
    monkeypatch.setattr(lookup, "knn", no_exact_search)
    code, through_index, err = run_cli([*args, "-w", str(ws[0].root), "-q"], capsys)
    assert code == 0, err
    assert through_index == exact


def test_an_index_of_another_runs_model_is_refused(embedded, capsys):
    ws = embedded
    assert cli(capsys, ws, "--run", "fused", "--kind", "flat")[0] == 0
    other = ws[2]
    assert search(capsys, ws, "other")[0] == 0  # embeds the other run's 2000 descriptors
    shutil.copytree(ws[1] / "index", other / "index", dirs_exist_ok=True)
    code, _, err = search(capsys, ws, "other")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "was built from descriptors of model" in err and "geosiam index build --run other" in err


def test_an_unknown_kind_is_refused_before_any_work(ws, capsys):
    code, _, err = cli(capsys, ws, "--run", "fused", "--kind", "lsh")
    assert code == 2 and "'lsh' is not one of 'auto', 'flat', 'ivf', 'hnsw', 'ivfpq'" in err
