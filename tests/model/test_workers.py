import logging

from geosiam.model.data import PairBatches
from geosiam.model.workers import AUTO, MIN_WORKERS, pick_workers, set_workers
from tests.model.test_data import _marked_cache


def test_auto_picks_two_workers_on_a_cpu_and_more_when_the_device_outruns_one(monkeypatch):
    batches = PairBatches(_marked_cache(n=6, px=64), 6, seed=0, augment=True)
    on_cpu = pick_workers(batches, accelerated=False)
    assert on_cpu.workers == MIN_WORKERS and on_cpu.seconds_per_batch > 0 and on_cpu.images_per_batch == 48
    monkeypatch.setattr("geosiam.model.workers.FASTEST_IMAGES_PER_S", 1e9)  # a device no worker feeds
    on_device = pick_workers(batches, accelerated=True, cores=6)
    assert on_device.workers == 5  # all cores but the loop's
    assert "5 threads" in on_device.describe() and "48-image batch" in on_device.describe()


def test_set_workers_keeps_a_given_number_and_says_what_auto_picked(caplog):
    batches = PairBatches(_marked_cache(n=6), 6, seed=0, augment=False)
    set_workers(batches, 3, accelerated=False)
    assert batches.workers == 3
    with caplog.at_level(logging.WARNING):
        set_workers(batches, AUTO, accelerated=False)
    assert batches.workers == MIN_WORKERS and "--workers auto: 2 threads" in caplog.text
