"""The ``geosiam`` command line: one thin Typer function per command (see ``commands/``).

Global flags (``--quiet``, ``--verbose``, ``--debug``) may stand anywhere on the line. Errors are
printed as one line (``geosiam: error: ...``), ``--debug`` shows the traceback instead. Exit
status: 0 success; 2 usage errors (a bad option or value, a wrong workspace, a stage not run yet:
fix the command line); 1 runtime failures (network, data, NaN); 130 interrupted (Ctrl-C).
Shell completion: ``geosiam --install-completion`` (bash, zsh, fish, PowerShell).
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from geosiam import __version__
from geosiam.commands import changes, embed, index, prepare, search, sources, train
from geosiam.commands import eval as evaluate
from geosiam.errors import GeosiamError
from geosiam.progress import set_quiet

USAGE_ERROR, RUNTIME_ERROR, INTERRUPTED = 2, 1, 130

app = typer.Typer(
    name="geosiam",
    help=(
        "Cross-year aerial image retrieval from IGN orthophotos (BD ORTHO) and topographic "
        "vectors (BD TOPO): prepare -> train -> embed -> eval."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: readable in any terminal width, and by grep
)
app.command("prepare")(prepare.prepare)
app.command("train")(train.train)
app.command("sources")(sources.sources)
app.command("embed")(embed.embed)
app.command("eval")(evaluate.evaluate)
app.command("search")(search.search)
app.command("changes")(changes.changes)
app.add_typer(index.app, name="index")

GLOBAL_FLAGS = {
    "--quiet": "quiet",
    "-q": "quiet",
    "--verbose": "verbose",
    "-v": "verbose",
    "--debug": "debug",
}


def _show_version(value: bool) -> None:
    if value:
        print(f"geosiam {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, only results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks; log everything."),
    version: bool = typer.Option(
        False, "--version", "-V", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Global flags; they may also be given after the command name."""


def _split_global_flags(argv: list[str]) -> tuple[list[str], set[str]]:
    flags = {GLOBAL_FLAGS[a] for a in argv if a in GLOBAL_FLAGS}
    return [a for a in argv if a not in GLOBAL_FLAGS], flags


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args, flags = _split_global_flags(list(sys.argv[1:] if argv is None else argv))
    level = logging.DEBUG if "debug" in flags else logging.INFO if "verbose" in flags else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    set_quiet("quiet" in flags)
    if "debug" not in flags:
        # TensorFlow's C++ logging (CPU instruction sets, kernels) is not for users; the few lines
        # absl prints before its own initialisation cannot be silenced from here
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = typer.main.get_command(app)
    try:
        # Typer turns Ctrl-C into the status 130, and typer.Exit into its status, returned here
        status = command.main(args=args, prog_name="geosiam", standalone_mode=False)
    except GeosiamError as exc:
        _fail(str(exc), exc.exit_code, flags)
    except typer.TyperException as exc:  # the parser's errors: bad options and values (status 2)
        message = _parser_message(exc)
        if not message:  # no command given: the help was shown
            sys.exit(exc.exit_code)
        _fail(message, exc.exit_code, flags)
    except OSError as exc:  # disk full, permission denied...
        _fail(str(exc), RUNTIME_ERROR, flags)
    except KeyboardInterrupt:
        status = INTERRUPTED
    if status == INTERRUPTED:
        print("geosiam: interrupted; run the same command again to resume", file=sys.stderr)
    sys.exit(status if isinstance(status, int) else 0)


def _fail(message: str, status: int, flags: set[str]) -> None:
    if "debug" in flags:
        raise
    print(f"geosiam: error: {message}", file=sys.stderr)
    sys.exit(status)


def _parser_message(exc) -> str:
    """A parser error as one line, with where to find the valid options."""
    message = exc.format_message().replace("Value error, ", "").replace("\n", " ").strip()
    context = getattr(exc, "ctx", None)
    if message and exc.exit_code == USAGE_ERROR and context is not None:
        message += f" (see '{context.command_path} --help')"
    return message


if __name__ == "__main__":
    main()
