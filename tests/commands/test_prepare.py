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
    assert code == 0 and "4 pairs" in out
    assert (tmp_path / "ws" / "geosiam.toml").read_text().count("tile_px = 16") == 1
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "nothing to do" in out
