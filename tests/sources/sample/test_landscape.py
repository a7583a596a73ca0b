"""The sample's landscape: what changes on the ground, and how the editions map it."""

from geosiam.sources.sample.changes import world_changes
from geosiam.sources.sample.landscape import build_world
from geosiam.sources.sample.topo import edition, topo_layers


def test_railways_and_watercourses_change_too_in_the_ground_truth_and_the_editions():
    world = build_world((916000, 6826000, 920000, 6830000), 1)  # 4 x 4 km: a railway, a quarry
    changes = world_changes(world)
    assert {"railway_closed", "watercourse_channelised", "quarry_dug", "house_built"} <= {
        c.kind for c in changes
    }
    years = [c.year for c in changes if c.kind in ("railway_closed", "watercourse_channelised")]
    before = topo_layers(world, edition(1, min(years) - 5))
    after = topo_layers(world, edition(1, max(years) + 5))
    assert len(before["troncon_de_voie_ferree"]) and not len(after["troncon_de_voie_ferree"])
    assert "Ecoulement canalisé" in set(after["troncon_hydrographique"]["nature"])
    assert "Ecoulement canalisé" not in set(before["troncon_hydrographique"]["nature"])
