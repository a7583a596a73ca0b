"""The ``geosiam`` command line: one thin Typer function per command (see ``commands/``).

Global flags (``--quiet``, ``--verbose``, ``--debug``) may stand anywhere on the line. Errors a
user can fix are printed as one line (``geosiam: error: ...``) with exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from geosiam import __version__
from geosiam.commands import changes, embed, prepare, search, sources, train
from geosiam.commands import eval as evaluate
from geosiam.errors import GeosiamError
from geosiam.progress import set_quiet

app = typer.Typer(
    name="geosiam",
    help=(
        "Cross-year aerial image retrieval from IGN orthophotos (BD ORTHO) and topographic "
        "vectors (BD TOPO): prepare -> train -> embed -> eval."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("prepare")(prepare.prepare)
app.command("train")(train.train)
app.command("sources")(sources.sources)
app.command("embed")(embed.embed)
app.command("eval")(evaluate.evaluate)
app.command("search")(search.search)
app.command("changes")(changes.changes)

GLOBAL_FLAGS = {
    "--quiet": "quiet",
    "-q": "quiet",
    "--verbose": "verbose",
    "-v": "verbose",
    "--debug": "debug",
}


@app.callback()
def _global(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, only results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks; log everything."),
) -> None:
    """Global flags; they may also be given after the command name."""


def _split_global_flags(argv: list[str]) -> tuple[list[str], set[str]]:
    flags = {GLOBAL_FLAGS[a] for a in argv if a in GLOBAL_FLAGS}
    return [a for a in argv if a not in GLOBAL_FLAGS], flags


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args, flags = _split_global_flags(list(sys.argv[1:] if argv is None else argv))
    if args in (["--version"], ["-V"]):
        print(f"geosiam {__version__}")
        return
    level = logging.DEBUG if "debug" in flags else logging.INFO if "verbose" in flags else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    set_quiet("quiet" in flags)
    if "debug" not in flags:
        # TensorFlow's C++ logging (CPU instruction sets, kernels) is not for users; the few lines
        # absl prints before its own initialisation cannot be silenced from here
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="geosiam", standalone_mode=False)
    except GeosiamError as exc:
        if "debug" in flags:
            raise
        print(f"geosiam: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("geosiam: interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code and message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
