"""The exception types a user can see.

Every error geosiam raises on bad input is a :class:`GeosiamError` whose message is one line that
names the problem and the fix. The CLI prints it without a traceback (unless ``--debug``) and exits
with its ``exit_code``: 2 when the command line must change (an option, its value, the workspace,
a stage to run first), 1 when the run failed on its data, the network or the training.
"""

USAGE = 2
RUNTIME = 1


class GeosiamError(Exception):
    """Base class: a one-line message naming the problem and, where possible, the fix."""

    exit_code = USAGE


class SettingsError(GeosiamError):
    """Invalid settings or command-line options (years, grid, area, splits...)."""


class WorkspaceMismatchError(GeosiamError):
    """The workspace was prepared with other settings; mixing grids would corrupt it."""


class WorkspaceError(GeosiamError):
    """A stage needs files an earlier stage has not written yet."""


class SourceError(GeosiamError):
    """A raster or vector source is missing, unreadable, without CRS or outside the area."""

    exit_code = RUNTIME


class ClassTableError(GeosiamError):
    """The class table (TOML) has an error; the message says which line and what."""

    exit_code = RUNTIME


class DownloadError(GeosiamError):
    """A download failed after its retries, or a file failed its checksum twice."""

    exit_code = RUNTIME


class ArchiveError(GeosiamError):
    """An archive is corrupt, incomplete or unsafe (a member would leave the target folder)."""

    exit_code = RUNTIME


class ModelError(GeosiamError):
    """A model, run or weights file that does not exist or does not match."""


class TrainingError(GeosiamError):
    """Training cannot start or had to stop (too few pairs, NaN loss...)."""

    exit_code = RUNTIME
