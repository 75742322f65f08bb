"""Synthetic Sentinel-2 scenes with known fields, for scripts/map.py to map and be scored on:
``python scripts/make_scene.py dst=<folder>``.

::

    <dst>/scene/<YYYYMMDD>/B02.tif B03.tif B04.tif B08.tif   10 m, uint16 (reflectance x 10000)
                           B05.tif B06.tif SCL.tif          20 m (SCL: L2A scene classes)
    <dst>/truth.tif      class index per 10 m pixel, 255 off the fields
    <dst>/fields.gpkg    layer ``fields``: field_id, crop, polygon
    <dst>/scene.json     what was drawn

The land is split into parcels (:mod:`.parcels`), each a field of one class in its verge or
plain grass, and every parcel is rendered with the patch generator's covers, phenology,
textures and atmosphere (:mod:`.blocks`), so a model trained on synthetic patches meets the
same pixels in the scene. The dates, their skies and clouds are :mod:`.acquisitions`;
:mod:`.writer` writes it all a block of rows at a time, so memory stays that of one block
whatever the size. Imported on its own (it needs the ``maps`` extra: rasterio, geopandas).
"""

from cropland.data.synthetic.scene.writer import generate_scene

__all__ = ["generate_scene"]
