"""``geosiam eval``: MAP@5 and recall@k of a run and its baselines, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from geosiam.commands.options import JSON, WORKSPACE, messages_to_stderr, print_json
from geosiam.config import SPLITS
from geosiam.runfolder import trained_run


def evaluate(
    split: Literal[SPLITS] = typer.Option("test", "--split", help="Split to evaluate on."),
    run: str = typer.Option(
        None,
        "--run",
        help="Run to evaluate (name in the workspace, or folder); default: the newest.",
    ),
    image_only_run: str = typer.Option(
        None,
        "--image-only-run",
        help="Image-only run to compare with; default: the newest one, if any.",
    ),
    mask_only_run: str = typer.Option(
        None,
        "--mask-only-run",
        help="Mask-only run to compare with; default: the newest one, if any.",
    ),
    as_json: bool = JSON,
    workspace: Path = WORKSPACE,
) -> None:
    """Retrieve each place of the newer year among the older year's tiles (and back).

    Reports MAP@5, recall@1/5/10 with 95% block-bootstrap intervals, in every setting the run's
    labels allow (fused, fused vs image-only, image-only), for the run, the untrained network,
    the image-only and mask-only runs and raw-pixel baselines, with paired comparisons; writes
    runs/<run>/eval/ (metrics.json, report.md, figures).
    With --json, prints metrics.json on stdout instead of the table.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.retrieval.evaluate import evaluate_run
    from geosiam.workspace import Workspace

    ws = Workspace(workspace)
    with messages_to_stderr(as_json):
        ws.require_prepared()
        evaluation = evaluate_run(
            ws,
            trained_run(ws, run).root,
            split=split,
            image_only_name=image_only_run,
            mask_only_name=mask_only_run,
        )
        report = evaluation.report_dir
        print(evaluation.table)
        print(f"\nreport: {report / 'report.md'} and {report / 'report.html'}")
    if as_json:
        print_json(evaluation.metrics)  # the content of metrics.json
