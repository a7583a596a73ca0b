"""``python -m geosiam.commands.stac stac/collection.json``: check a workspace's STAC collection and
every item it links against the STAC schemas, offline (:func:`geosiam.prepare.stac.validate`)."""

from __future__ import annotations

import json
import sys

from geosiam.prepare.stac import validate

USAGE = "usage: python -m geosiam.commands.stac COLLECTION_JSON"


def main(argv: list[str] | None = None) -> int:
    """Validate the collection named on the command line; the exit status (0 valid, 1 invalid,
    2 usage or an unreadable file), one line on stdout or stderr."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        checked = validate(args[0])
    except (OSError, json.JSONDecodeError) as exc:
        print(
            f"geosiam: error: cannot read {args[0]} ({exc}): give the stac/collection.json of a workspace",
            file=sys.stderr,
        )
        return 2
    except ValueError as exc:
        print(f"geosiam: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args[0]}: {checked} STAC objects valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
