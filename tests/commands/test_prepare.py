"""The prepare command as a user runs it: exit codes and one-line errors."""

import subprocess
import sys

import pytest

from geosiam.cli import main
from tests.cli import run_cli
from tests.synthetic import write_raster


def test_help_lists_commands_without_loading_heavy_libraries():
    result = subprocess.run([sys.executable, "-m", "geosiam.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "prepare" in result.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, geosiam.cli; print('keras' in sys.modules, 'rasterio' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == ["False", "False"]  # heavy libraries load only when a command runs


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "--years", "2000", "2000"], "two distinct years"),
        (["prepare", "--years", "1066", "2015"], "unknown year 1066"),
        (["prepare", "--years", "2000", "2015", "--ortho", "2000"], "YEAR=VALUE"),
        (["prepare", "--years", "2000", "2015", "--sample-km", "0"], "--sample-km must be"),
        (["prepare", "--years", "2000", "2015", "--sample-km", "1"], "give a larger --sample-km"),
        (
            ["prepare", "--years", "2000", "2015", "--panchromatic-before", "1900"],
            "outside the sample's years",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code, _, err = run_cli(args + ["--workspace", str(tmp_path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geosiam: error:") and message in lines[0]


def test_global_flags_anywhere_and_debug_shows_traceback(tmp_path, capsys):
    code, _, err = run_cli(["prepare", "--quiet", "--years", "2000", "2000", "-w", str(tmp_path)], capsys)
    assert code == 2 and "Traceback" not in err
    from geosiam.errors import SettingsError

    with pytest.raises(SettingsError):
        main(["--debug", "prepare", "--years", "2000", "2000", "-w", str(tmp_path)])


def test_prepare_local_files_through_the_cli(tmp_path, capsys):
    for year in (2000, 2015):
        write_raster(tmp_path / f"{year}.tif", (930000, 6860000, 930500, 6860500), 2.0, seed=year)
    args = [
        "prepare",
        "--years",
        "2000",
        "2015",
        "--ortho",
        f"2000={tmp_path / '2000.tif'}",
        "--ortho",
        f"2015={tmp_path / '2015.tif'}",
        "--tile-size-m",
        "250",
        "--tile-px",
        "16",
        "-w",
        str(tmp_path / "ws"),
        "-q",
    ]
    code, out, _ = run_cli(args, capsys)
    lines = out.splitlines()
    assert code == 0 and lines[:2] == [
        "2000: no labels (no vectors for this year)",
        "2015: no labels (no vectors for this year)",
    ]
    assert lines[2] == "Label mode: none (--labels auto)"
    assert lines[3].startswith(f"Prepared {tmp_path / 'ws'}: 4 pairs (train ") and len(lines) == 4
    assert (tmp_path / "ws" / "geosiam.toml").read_text().count("tile_px = 16") == 1
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and out.splitlines()[-1].endswith("; nothing to do.")


def test_prepare_says_when_it_takes_the_sample_area_and_what_each_departement_gave(
    tmp_path, capsys, monkeypatch
):
    from geosiam.prepare.pipeline import PrepareSummary
    from geosiam.prepare.streaming import DepartementSummary
    from geosiam.sources.labels import YearLabels

    given = []

    def prepared(workspace, settings, **options):  # what the command prints is under test
        given.append(settings)
        return PrepareSummary(
            workspace=workspace,
            tiles={1995: 3, 2020: 3},
            pairs={"train": 1, "val": 1, "test": 1},
            classes=[0, 5],
            labels=[
                YearLabels(1995, reason="no vectors for this year"),
                YearLabels(2020, "2021-03-15", 1.0, "3"),
            ],
            label_mode="newer",
            asked_label_mode="auto",
            departements=[DepartementSummary("54", 4, resumed=True), DepartementSummary("57", 2)],
        )

    monkeypatch.setattr("geosiam.prepare.pipeline.prepare_workspace", prepared)
    code, out, _ = run_cli(["prepare", "--years", "1995", "2020", "-w", str(tmp_path)], capsys)
    assert code == 0 and given[0].area.sample
    assert out.splitlines() == [
        "No area given: using the built-in sample area (--sample).",
        "Département 54: already prepared (4 tiles).",
        "Département 57: 2 tiles and their masks made.",
        "1995: no labels (no vectors for this year)",
        "2020: labels from BD TOPO 3.x edition 2021-03-15, +1.0 years from the image",
        "Label mode: newer (--labels auto)",
        f"Prepared {tmp_path}: 3 pairs (train 1, val 1, test 1), tiles per year {{1995: 3, 2020: 3}}.",
    ]
