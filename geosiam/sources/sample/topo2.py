"""Re-cast a sample edition into the BD TOPO 2.x data model, as IGN delivered it before 2019.

BD TOPO 2.x is Shapefiles by theme folder (``E_BATI/BATI_INDIFFERENCIE.SHP``...), upper-case layer
and attribute names (``ID``, ``NATURE``, ``LARGEUR``, ``POS_SOL``...), buildings split into
layers by kind rather than by a ``nature`` attribute, and its own ``NATURE`` values. The names are
those of ``geosiam/data/classes_bdtopo2.toml`` (see its header for their sources), so that the 2.x
class table runs end to end on the sample. Pure: GeoDataFrames in, GeoDataFrames out.
"""

from __future__ import annotations

import numpy as np

# v3 building nature -> the 2.x layer that holds it, and its 2.x NATURE (None: no such field)
_BUILDINGS = {
    "Indifférenciée": ("BATI_INDIFFERENCIE", None),
    "Industriel, agricole ou commercial": ("BATI_INDUSTRIEL", None),
    "Silo": ("BATI_INDUSTRIEL", "Silo"),
    "Eglise": ("BATI_REMARQUABLE", "Eglise"),
}
_INDUSTRIAL_NATURE = {  # by v3 usage
    "Agricole": "Bâtiment agricole",
    "Industriel": "Bâtiment industriel",
    "Commercial et services": "Bâtiment commercial",
}
_ROAD_NATURE = {"Rond-point": "Route à 1 chaussée"}  # 2.x has no roundabout nature
THEMES = {
    "BATI_INDIFFERENCIE": "E_BATI",
    "BATI_INDUSTRIEL": "E_BATI",
    "BATI_REMARQUABLE": "E_BATI",
    "CIMETIERE": "E_BATI",
    "TERRAIN_SPORT": "E_BATI",
    "ROUTE": "A_RESEAU_ROUTIER",
    "TRONCON_VOIE_FERREE": "B_VOIES_FERREES_ET_AUTRES",
    "SURFACE_EAU": "D_HYDROGRAPHIE",
    "TRONCON_COURS_EAU": "D_HYDROGRAPHIE",
    "ZONE_VEGETATION": "F_VEGETATION",
}

_LINES = {"ROUTE", "TRONCON_VOIE_FERREE", "TRONCON_COURS_EAU"}
GEOMETRY_TYPES2 = {name: "LineString Z" if name in _LINES else "MultiPolygon Z" for name in THEMES}


def _frame(frame, columns: dict):
    """A 2.x layer: ``ID`` (2.x identifiers have v3's cleabs form), ``columns``, the geometries."""
    import geopandas as gpd  # lazy: geopandas is heavy; only writing needs it

    return gpd.GeoDataFrame(
        {"ID": frame["cleabs"].to_numpy(), **columns}, geometry=frame.geometry.values, crs=frame.crs
    )


def topo2_layers(v3: dict) -> dict:
    """2.x layer name (upper case, as the file stem) -> GeoDataFrame, from v3's layers of one edition."""
    out = _buildings(v3["batiment"])
    out["ROUTE"] = _roads(v3["troncon_de_route"])
    out["TRONCON_VOIE_FERREE"] = _railways(v3["troncon_de_voie_ferree"])
    out["SURFACE_EAU"] = _water(v3["surface_hydrographique"])
    out["TRONCON_COURS_EAU"] = _streams(v3["troncon_hydrographique"])
    vegetation = v3["zone_de_vegetation"]
    out["ZONE_VEGETATION"] = _frame(vegetation, {"NATURE": vegetation["nature"].to_numpy()})
    sports = v3["terrain_de_sport"]
    out["TERRAIN_SPORT"] = _frame(sports, {"NATURE": ["Terrain de football"] * len(sports)})
    cemeteries = v3["cimetiere"]
    out["CIMETIERE"] = _frame(cemeteries, {"NATURE": cemeteries["nature"].to_numpy()})
    return out


def _buildings(buildings) -> dict:
    """v3's one building layer split into 2.x's three, by nature."""
    out = {}
    layer = buildings["nature"].map(lambda n: _BUILDINGS[n][0])
    for name in ("BATI_INDIFFERENCIE", "BATI_INDUSTRIEL", "BATI_REMARQUABLE"):
        chosen = buildings[layer == name]
        columns = {"HAUTEUR": chosen["hauteur"].to_numpy()}
        if name != "BATI_INDIFFERENCIE":
            columns["NATURE"] = [
                _BUILDINGS[n][1] or _INDUSTRIAL_NATURE[u] for n, u in zip(chosen["nature"], chosen["usage_1"])
            ]
        out[name] = _frame(chosen, columns)
    return out


def _roads(roads):
    return _frame(
        roads,
        {
            "NATURE": [_ROAD_NATURE.get(n, n) for n in roads["nature"]],
            "NUMERO": roads["cpx_numero"].to_numpy(),
            "FICTIF": np.where(roads["fictif"], "Oui", "Non"),
            "FRANCHISST": "NC",
            "LARGEUR": roads["largeur_de_chaussee"].fillna(0.0).to_numpy(),
            "NB_VOIES": roads["nombre_de_voies"].fillna(0).astype(int).to_numpy(),
            "POS_SOL": roads["position_par_rapport_au_sol"].astype(int).to_numpy(),
            "ETAT": roads["etat_de_l_objet"].to_numpy(),
            "IMPORTANCE": roads["importance"].to_numpy(),
        },
    )


def _railways(rails):
    return _frame(
        rails,
        {
            "NATURE": np.where(rails["etat_de_l_objet"] == "En service", "Principale", "Non exploitée"),
            "ELECTRIFIE": np.where(rails["electrifie"], "Electrifiée", "Non électrifiée"),
            "ECARTEMENT": "Normal",
            "NB_VOIES": rails["nombre_de_voies"].fillna(1).astype(int).to_numpy(),
            "POS_SOL": rails["position_par_rapport_au_sol"].astype(int).to_numpy(),
        },
    )


def _water(water):
    return _frame(
        water,
        {
            "NATURE": np.where(water["nature"] == "Ecoulement naturel", "Surface d'eau", "Bassin"),
            "REGIME": water["persistance"].to_numpy(),
        },
    )


def _streams(streams):
    return _frame(
        streams,
        {
            "ARTIF": np.where(streams["nature"] == "Ecoulement canalisé", "Oui", "Non"),
            "FICTIF": np.where(streams["fictif"], "Oui", "Non"),
            "POS_SOL": streams["position_par_rapport_au_sol"].astype(int).to_numpy(),
            "REGIME": streams["persistance"].to_numpy(),
        },
    )
