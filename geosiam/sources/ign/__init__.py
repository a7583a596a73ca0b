"""BD ORTHO and BD TOPO from IGN's Géoplateforme download service, with the WMS-R fallback.

- :mod:`.feeds`: the service's Atom feeds, read and parsed (deliveries, their files and sizes);
- :mod:`.deliveries`: deliveries and dalles by name, and which edition each year needs (pure);
- :mod:`.plan`: what an area needs, from the feeds alone, with every error that can be known
  before a download;
- :mod:`.fetch`: downloading, verifying and extracting it, département by département.

The rest of geosiam uses what is imported here.
"""

from geosiam.sources.ign.deliveries import ORTHO, TOPO, dalle_bounds, describe_spans
from geosiam.sources.ign.feeds import describe_size, list_editions
from geosiam.sources.ign.fetch import IgnSources, fetch_sources
from geosiam.sources.ign.plan import area_departements

__all__ = [
    "ORTHO",
    "TOPO",
    "IgnSources",
    "area_departements",
    "dalle_bounds",
    "describe_size",
    "describe_spans",
    "fetch_sources",
    "list_editions",
]
