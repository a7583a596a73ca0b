"""Shared fixtures. geoplateforme: the fake IGN Géoplateforme on a random 127.0.0.1 port."""

import pytest

from tests.fake_geoplateforme import FakeGeoplateforme


@pytest.fixture
def geoplateforme():
    server = FakeGeoplateforme()
    server.start()
    yield server
    server.stop()
