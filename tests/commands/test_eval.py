"""geosiam eval as a user runs it: the table, the files, and one-line errors."""

import json

import pytest

from tests.cli import run_cli
from tests.retrieval.factory import shared


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return shared(tmp_path_factory)


def test_eval_prints_the_table_and_writes_the_report(ws, capsys):
    code, stdout, _ = run_cli(
        [
            "eval",
            "--run",
            "fused",
            "--image-only-run",
            "image-only",
            "--mask-only-run",
            "mask-only",
            "-w",
            str(ws.workspace.root),
            "-q",
        ],
        capsys,
    )
    assert code == 0
    assert "| trained (fused) |" in stdout and "| image-only run (image-only) |" in stdout
    assert "| mask-only run (mask-only) |" in stdout and "### fused vs image-only" in stdout
    assert "| pixels: image + mask |" in stdout and "older year -> newer year" in stdout
    metrics = json.loads((ws.run / "eval" / "metrics.json").read_text())
    assert metrics["n_queries"] == 12 and 0 <= metrics["map_at_5"] <= 1
    assert set(metrics["directions"]["older_to_newer"]) >= {"model", "image_only", "mask_only", "untrained"}
    assert metrics["labels"] == "both" and len(metrics["map_at_5_ci"]) == 2
    page = (ws.run / "eval" / "report.html").read_text(encoding="utf-8")  # beside report.md
    assert "report.html" in stdout and "| trained (fused) |" not in page and "<td>" in page
    assert page.count('"rank":') == 12 and "https:" not in page and 'class="ci"' in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "val"], "split 'val' has no pairs (test: 12): choose another --split"),
        (["--split", "dev"], "'dev' is not one of 'train', 'val', 'test'"),
        (["--run", "nope"], "no trained run 'nope'"),
        (["--mask-only-run", "image-only"], "run 'image-only' was not trained with --mask-only"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ws, capsys, args, message):
    code, _, stderr = run_cli(["eval", *args, "-w", str(ws.workspace.root)], capsys)
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_an_unprepared_workspace_says_to_prepare(tmp_path, capsys):
    code, _, stderr = run_cli(["eval", "-w", str(tmp_path)], capsys)
    assert code == 2 and "run 'geosiam prepare' first" in stderr


def test_json_prints_metrics_json_and_nothing_else(ws, capsys):
    args = ["eval", "--run", "fused", "--image-only-run", "image-only", "-w", str(ws.workspace.root), "-q"]
    code, stdout, stderr = run_cli([*args, "--json"], capsys)
    assert code == 0 and "report:" in stderr
    assert json.loads(stdout) == json.loads((ws.run / "eval" / "metrics.json").read_text())
