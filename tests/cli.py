"""Run the ``geosiam`` command line in-process, as a user would, and capture what it says."""

import pytest

from geosiam.cli import main


def run_cli(args, capsys):
    """(exit code, stdout, stderr) of ``geosiam ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err
