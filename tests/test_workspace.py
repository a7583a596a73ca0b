import pytest

from geosiam.config import Settings, with_overrides
from geosiam.errors import WorkspaceError, WorkspaceMismatchError
from geosiam.workspace import Workspace, bind, check_claim


def settings(**overrides):
    return with_overrides(Settings(), {"years": [2000, 2015], **overrides})


def claim(workspace, settings, classes_text, force):
    """What a successful prepare does: check, then bind."""
    check_claim(workspace, settings, classes_text, force)
    bind(workspace, settings, classes_text)


def test_paths_follow_the_design(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.tile_path(2000, "x1_y2") == tmp_path / "tiles" / "2000" / "x1_y2.tif"
    assert ws.mask_path(2015, "x1_y2") == tmp_path / "masks" / "2015" / "x1_y2.tif"
    assert ws.relative(tmp_path / "tiles" / "a.tif") == "tiles/a.tif"
    assert ws.absolute("tiles/a.tif") == tmp_path / "tiles" / "a.tif"


def test_unprepared_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match="geosiam prepare"):
        Workspace(tmp_path).require_prepared()


def test_claim_refuses_other_grid_unless_forced(tmp_path):
    ws = Workspace(tmp_path)
    claim(ws, settings(**{"grid.tile_px": 64}), "classes v1", force=False)
    (ws.tiles_dir / "2000").mkdir(parents=True)
    (ws.tiles_dir / "2000" / "x0_y0.tif").write_bytes(b"tile")
    claim(ws, settings(**{"grid.tile_px": 64}), "classes v1", force=False)  # same: fine
    with pytest.raises(WorkspaceMismatchError, match="grid.*--force"):
        claim(ws, settings(**{"grid.tile_px": 128}), "classes v1", force=False)
    with pytest.raises(WorkspaceMismatchError, match="classes"):
        claim(ws, settings(**{"grid.tile_px": 64}), "classes v2", force=False)
    assert (ws.tiles_dir / "2000" / "x0_y0.tif").exists()  # refusing loses nothing
    check_claim(ws, settings(**{"grid.tile_px": 128}), "classes v1", force=True)
    assert not ws.tiles_dir.exists() and not ws.classes_path.exists()  # discarded and unbound
    check_claim(ws, settings(**{"grid.tile_px": 32}), "classes v1", force=False)  # nothing bound now
    bind(ws, settings(**{"grid.tile_px": 128}), "classes v1")
    assert ws.load_settings().grid.tile_px == 128


def test_changing_the_server_url_is_not_a_mismatch(tmp_path):
    ws = Workspace(tmp_path)
    claim(ws, settings(), "t", force=False)
    claim(ws, settings(**{"sources.ign_url": "http://127.0.0.1:9"}), "t", force=False)


def test_a_hand_written_settings_file_is_configuration_not_a_claim(tmp_path):
    ws = Workspace(tmp_path)
    ws.settings_path.write_text("years = [2000, 2015]\n[grid]\ntile_px = 32\n")
    claim(ws, settings(**{"grid.tile_px": 64}), "t", force=False)
    assert ws.load_settings().grid.tile_px == 64
