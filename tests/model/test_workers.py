import logging

from geosiam.model.data import PairBatches
from geosiam.model.workers import AUTO, fewest_workers, pick_workers, set_workers
from tests.model.test_data import _marked_cache


def test_auto_picks_the_fewest_workers_on_a_cpu_and_more_when_the_device_outruns_one(monkeypatch):
    batches = PairBatches(_marked_cache(n=6, px=64), 6, seed=0, augment=True)
    on_cpu = pick_workers(batches, accelerated=False)
    assert (
        on_cpu.workers == fewest_workers() and on_cpu.seconds_per_batch > 0 and on_cpu.images_per_batch == 48
    )
    monkeypatch.setattr("geosiam.model.workers.FASTEST_IMAGES_PER_S", 1e9)  # a device no worker feeds
    on_device = pick_workers(batches, accelerated=True, cores=6)
    assert on_device.workers == 5  # all cores but the loop's
    assert "5 thread(s)" in on_device.describe() and "48-image batch" in on_device.describe()


def test_set_workers_keeps_a_given_number_and_says_what_auto_picked(caplog):
    batches = PairBatches(_marked_cache(n=6), 6, seed=0, augment=False)
    set_workers(batches, 3, accelerated=False)
    assert batches.workers == 3
    with caplog.at_level(logging.WARNING):
        set_workers(batches, AUTO, accelerated=False)
    assert (
        batches.workers == fewest_workers() and f"--workers auto: {fewest_workers()} thread(s)" in caplog.text
    )


def test_the_floor_is_one_worker_on_tensorflow_and_two_elsewhere(monkeypatch):
    monkeypatch.setattr("keras.backend.backend", lambda: "tensorflow")
    assert fewest_workers() == 1
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    assert fewest_workers() == 2
