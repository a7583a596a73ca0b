"""What a real QGIS shows when it opens layers: run by the system Python that has PyQGIS.

    python3 tests/qgis_probe.py "file.gpkg|layername=pairs" masks_2015.vrt

prints one JSON object per layer: validity, renderer type and its classes (value, label, colour).
Used by the tests that skip where QGIS is not installed (it is not in CI).
"""

import json
import sys

from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer


def describe(spec: str) -> dict:
    if spec.endswith((".vrt", ".tif")):
        layer = QgsRasterLayer(spec, "raster")
        renderer = layer.renderer()
        classes = [[c.value, c.label, c.color.name()] for c in getattr(renderer, "classes", list)()]
        return {
            "valid": layer.isValid(),
            "renderer": renderer.type() if renderer else None,
            "classes": classes,
        }
    layer = QgsVectorLayer(spec, "vector", "ogr")
    renderer = layer.renderer()
    kind = renderer.type()
    if kind == "categorizedSymbol":
        classes = [[c.value(), c.label(), c.symbol().color().name()] for c in renderer.categories()]
    elif kind == "graduatedSymbol":
        classes = [
            [[r.lowerValue(), r.upperValue()], r.label(), r.symbol().color().name()]
            for r in renderer.ranges()
        ]
    else:
        classes = [[None, "", renderer.symbol().color().name()]]
    attribute = renderer.classAttribute() if hasattr(renderer, "classAttribute") else ""
    return {"valid": layer.isValid(), "renderer": kind, "attribute": attribute, "classes": classes}


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    for spec in sys.argv[1:]:
        print(json.dumps(describe(spec)))
    app.exitQgis()
