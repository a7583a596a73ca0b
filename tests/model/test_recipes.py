"""The recipe table: one entry per --loss, and nothing falls through to another loss."""

import pytest

from geosiam.config import LOSSES, TrainSettings
from geosiam.errors import SettingsError, TrainingError
from geosiam.model.data import PairBatches, PlaceBatches
from geosiam.model.recipes import RECIPES, check_pairs_per_batch, recipe_of
from geosiam.model.siamese import descriptors_head, distance_head, same_place_head


def test_every_loss_the_command_line_offers_has_exactly_one_recipe():
    assert sorted(RECIPES) == sorted(LOSSES)
    assert all(name == recipe.name for name, recipe in RECIPES.items())


@pytest.mark.parametrize(
    ("name", "kind", "head", "batches"),
    [
        ("bce", "BinaryCrossentropy", same_place_head, PairBatches),
        ("focal", "BinaryFocalCrossentropy", same_place_head, PairBatches),
        ("contrastive", "ContrastiveLoss", distance_head, PairBatches),
        ("triplet", "TripletLoss", distance_head, PairBatches),
        ("infonce", "InfoNCELoss", descriptors_head, PlaceBatches),
    ],
)
def test_each_loss_has_its_head_and_batch_layout(name, kind, head, batches):
    recipe = recipe_of(name)
    assert type(recipe.make_loss(TrainSettings())).__name__ == kind
    assert recipe.head is head and recipe.layout.batches is batches


def test_the_loss_is_made_from_the_settings():
    settings = TrainSettings(margin=0.3, temperature=0.05)
    assert recipe_of("triplet").make_loss(settings).margin == 0.3
    assert recipe_of("contrastive").make_loss(settings).margin == 0.3
    assert recipe_of("infonce").make_loss(settings).temperature == 0.05


def test_an_unknown_loss_is_an_error_naming_the_known_ones_never_triplet():
    known = "bce, focal, contrastive, triplet, infonce"
    with pytest.raises(SettingsError, match=f"unknown loss 'arcface': use one of {known}$"):
        recipe_of("arcface")


def test_pair_batches_need_two_places_and_enough_anchors():
    check_pairs_per_batch(3, 6)
    with pytest.raises(TrainingError, match="1 pair"):
        check_pairs_per_batch(1, 2)
    with pytest.raises(TrainingError, match=r"3 pair\(s\) \(6 anchors\).*lower --batch-anchors"):
        check_pairs_per_batch(3, 8)
