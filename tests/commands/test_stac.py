"""``python -m geosiam.commands.stac``: a workspace's STAC collection checked offline, one line out."""

import json
import subprocess
import sys

from geosiam.commands.stac import main
from geosiam.prepare.stac import build_collection, write_collection
from tests.prepare.test_stac import NAMES, settings, tiles_frame


def collection(tmp_path):
    return write_collection(
        build_collection(tiles_frame(), {}, settings(), NAMES, tmp_path), tmp_path / "stac"
    )


def test_a_valid_collection_says_how_many_objects_it_checked(tmp_path):
    path = collection(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "geosiam.commands.stac", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == f"{path}: 3 STAC objects valid\n" and done.stderr == ""


def test_an_invalid_item_is_one_line_naming_it_and_exit_1(tmp_path, capsys):
    path = collection(tmp_path)
    item_path = path.parent / "x1_y2-2015" / "x1_y2-2015.json"
    item = json.loads(item_path.read_text())
    item["properties"]["proj:shape"] = [256]
    item_path.write_text(json.dumps(item))
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("geosiam: error: ")
        and "x1_y2-2015.json: invalid against" in err
        and err.count("\n") == 1
    )


def test_a_missing_file_or_no_argument_is_a_usage_error(tmp_path, capsys):
    assert main([str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geosiam: error: cannot read ") and "give the stac/collection.json" in err
    assert main([]) == 2 and capsys.readouterr().err.startswith("usage: python -m geosiam.commands.stac")
