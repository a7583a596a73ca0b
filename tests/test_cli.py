"""The command line's conventions: choices, --version, exit statuses, Ctrl-C, shell completion."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from geosiam import __version__
from geosiam.config import (
    BACKBONE_NAMES,
    INDEX_KINDS,
    LABEL_MODES,
    LOSSES,
    LR_SCHEDULES,
    MASK_ENCODINGS,
    RUN_LABELS,
    SPLITS,
)
from tests.cli import run_cli

CHOICES = [
    ("train", "--loss", LOSSES),
    ("train", "--backbone", (*BACKBONE_NAMES, "auto")),
    ("train", "--mask-encoding", MASK_ENCODINGS),
    ("train", "--lr-schedule", LR_SCHEDULES),
    ("train", "--labels", RUN_LABELS),
    ("prepare", "--labels", LABEL_MODES),
    ("eval", "--split", SPLITS),
    ("changes", "--split", SPLITS),
    ("index build", "--kind", INDEX_KINDS),
]


def geosiam(*args, env=None, **kwargs):
    """``geosiam ARGS`` in a process of its own, as a shell runs it."""
    return subprocess.Popen(
        [sys.executable, "-c", "from geosiam.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


@pytest.mark.parametrize(("command", "option", "values"), CHOICES)
def test_help_lists_each_options_values(capsys, command, option, values):
    code, out, _ = run_cli([*command.split(), "--help"], capsys)
    assert code == 0 and f"{option} <{'|'.join(values)}>" in out


@pytest.mark.parametrize(("command", "option", "values"), CHOICES)
def test_a_value_outside_the_choices_is_a_usage_error_naming_them(tmp_path, capsys, command, option, values):
    required = ["--years", "2000", "2015"] if command == "prepare" else []
    code, out, err = run_cli([*command.split(), option, "nonsense", *required, "-w", str(tmp_path)], capsys)
    listed = ", ".join(f"'{v}'" for v in values)
    assert code == 2 and out == ""
    hint = f"(see 'geosiam {command} --help')"
    assert err == f"geosiam: error: Invalid value for '{option}': 'nonsense' is not one of {listed}. {hint}\n"
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_a_bad_loss_is_refused_before_the_model_is_imported():
    code = (
        "import sys\nfrom geosiam.cli import main\n"
        "try: main(['train', '--loss', 'nonsense'])\n"
        "except SystemExit as e: print(e.code, 'keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "False", "False"]
    assert "'nonsense' is not one of 'bce', 'contrastive', 'triplet', 'focal', 'infonce'" in done.stderr


def test_version_is_in_the_help_and_prints_the_version(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "--version" in out and "--install-completion" in out
    assert run_cli(["--version"], capsys)[:2] == (0, f"geosiam {__version__}\n")


def test_runtime_failures_exit_1_and_usage_errors_2(tmp_path, capsys):
    for year in ("2000", "2015"):
        (tmp_path / year).mkdir()
        (tmp_path / year / "a.tif").write_text("not a raster")
    args = [
        "prepare",
        "--years",
        "2000",
        "2015",
        "--ortho",
        f"2000={tmp_path / '2000'}",
        "--ortho",
        f"2015={tmp_path / '2015'}",
    ]
    code, _, err = run_cli([*args, "-w", str(tmp_path / "ws")], capsys)
    assert code == 1 and err.startswith("geosiam: error: cannot read raster") and err.count("\n") == 1
    code, _, err = run_cli(["prepare", "--years", "2000", "--sample"], capsys)
    assert code == 2 and "Invalid value for '--years'" in err and err.count("\n") == 1


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("geosiam.prepare.settings.resolve_settings", interrupted)
    code, _, err = run_cli(["prepare", "--years", "2000", "2015", "--sample", "-w", str(tmp_path)], capsys)
    assert code == 130 and err == "geosiam: interrupted; run the same command again to resume\n"


def test_sigint_during_a_request_exits_130():
    with socket.socket() as server:  # a service that accepts the connection and never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        process = geosiam(  # Ctrl-C's default handling, as in a shell's foreground job (a job
            # started in the background, by CI or nohup, hands its children SIGINT ignored)
            "sources", "--dept", "54", "--ign-url", url, "--request-interval", "0",
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        server.settimeout(60)
        connection, _ = server.accept()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        connection.close()
    assert process.returncode == 130 and "interrupted" in err and "Traceback" not in err


def test_shell_completion_offers_commands_and_choices():
    env = {"_GEOSIAM_COMPLETE": "complete_bash", "COMP_WORDS": "geosiam train --loss ", "COMP_CWORD": "3"}
    out, _ = geosiam(env=env).communicate(timeout=60)
    assert out.split() == list(LOSSES)
    env |= {"COMP_WORDS": "geosiam se", "COMP_CWORD": "1"}
    out, _ = geosiam(env=env).communicate(timeout=60)
    assert out.split() == ["search"]


@pytest.mark.parametrize(
    ("flags", "level", "quiet"),
    [
        ([], "WARNING", False),
        (["-v"], "INFO", False),
        (["--verbose"], "INFO", False),
        (["--debug"], "DEBUG", False),
        (["-q"], "WARNING", True),
        (["--quiet", "--verbose"], "INFO", True),
    ],
)
def test_global_flags_anywhere_set_the_log_level_and_quiet(flags, level, quiet):
    code = (
        "import logging, sys\nfrom geosiam import progress\nfrom geosiam.cli import main\n"
        f"try: main(['--version', *{flags!r}])\n"
        "except SystemExit: print(logging.getLevelName(logging.getLogger().level), progress._quiet)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == [f"geosiam {__version__}", f"{level} {quiet}"]


def test_debug_shows_the_traceback_that_an_error_line_stands_for(tmp_path):
    args = ["prepare", "--years", "2000", "2015", "--sample", "--sample-km", "0", "-w", str(tmp_path)]
    _, err = geosiam(*args).communicate(timeout=120)
    assert err.startswith("geosiam: error: --sample-km must be") and err.count("\n") == 1
    _, err = geosiam(*args[:2], "--debug", *args[2:]).communicate(timeout=120)
    assert "Traceback (most recent call last)" in err and "SettingsError: --sample-km must be" in err


def test_years_needs_two_values_wherever_it_stands(capsys):
    code, _, err = run_cli(["prepare", "--sample", "--years", "2000"], capsys)
    assert code == 2 and err.startswith("geosiam: error: Option '--years' requires 2 arguments")
    assert err.count("\n") == 1
