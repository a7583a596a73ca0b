"""What the IGN tests share: settings against the stand-in server, and the CLI as a user runs it."""

from geosiam.config import AreaSettings, GridSettings, HttpSettings, Settings, SourceSettings
from geosiam.sources.ign.deliveries import parse_delivery

ORTHO_2015 = "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01"
TOPO_2019 = "BDTOPO_3-0_TOUSTHEMES_GPKG_LAMB93_D054_2019-03-15"


def settings_for(server, years=(2000, 2015), depts=("54",), bbox=(), **sources):
    return Settings(
        years=list(years),
        grid=GridSettings(tile_size_m=1000.0, tile_px=16),
        area=AreaSettings(depts=list(depts), bbox=list(bbox)),
        sources=SourceSettings(
            ign_url=server.url,
            http=HttpSettings(request_interval_s=0, backoff_s=0, retries=2, timeout_s=5),
            **sources,
        ),
    )


def geosiam(*args) -> int:
    """Run the CLI as a user would; its exit status."""
    from geosiam.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as done:
        return done.code or 0
    return 0


def prepare_54(server, workspace, years, *more, fresh=True) -> int:
    """``prepare --dept 54``; ``fresh``: in a new workspace (its settings written, --force)."""
    if fresh:
        workspace.mkdir(exist_ok=True)
        (workspace / "geosiam.toml").write_text("[sources.http]\nrequest_interval_s = 0.0\n")
        more = ("--force", *more)
    years = [str(y) for y in years]
    return geosiam(
        "prepare", "--dept", "54", "--years", *years, "--ign-url", server.url, "--tile-px", "16",
        "-w", workspace, "-j", "1", *more,
    )  # fmt: skip


def delivery(name):
    return parse_delivery("BDTOPO" if name.startswith("BDTOPO") else "BDORTHO", name)
