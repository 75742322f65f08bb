"""Synthetic Canadian Cropland trees, written in the exact layout of the real 2019 tree.

The real data cannot be downloaded on our machines, so tests and smoke runs use this instead::

    <root>/<SENSOR>/<training|validation|test>/<CLASS>/POINT_<id>_<YYYYMM>_<PROV>_<CROP>_<SENSOR>.png

How a tree is made, one module per step (numbers are tuned so the PNGs look like the real
samples in DATASET.md):

* :mod:`.planning`: every point's class, province, split folder and months, in the real
  proportions.
* :mod:`.covers`: a few land-cover spectra (green canopy, dry straw, canola flowers, conifer,
  autumn leaves, soil) and each class's monthly share of them (phenology).
* :mod:`.texture`: class textures: smooth vigour patches in crops, patchy pasture, mottled
  conifer/deciduous forest, tree rows in orchards.
* :mod:`.fields`: the point's field, its verge and its neighbouring fields in the patch, each
  on its own schedule.
* :mod:`.rendering`: the fields mixed per pixel, seen through the atmosphere by the sensor,
  encoded as the six PNG images of one date.
* :mod:`.tree_writer`: all of it written, in threads, into a folder that becomes the tree only
  when complete (:func:`generate_tree`).

Every number those steps use comes from one :class:`~.settings.GeneratorSettings`, whose
defaults are the tuned generator. :class:`Character` (missing months, closer classes, more
noise, a season shifted per province) makes the data harder without changing its layout, and
:data:`HARD` is the ``data=synthetic_hard`` preset. A ``draw`` (:mod:`.draws`) is another
generator of a family drawn from wide priors, so that no recipe is tuned to one generator
(``data=synthetic_draw``).
:mod:`.naming` names the files (:func:`synthetic_file_name`).
:mod:`.prepared_default` makes a prepared file once when it is missing
(:func:`~.prepared_default.ensure_synthetic_file`, what ``data.synthetic`` asks the DataModule
for); it is imported on its own, so that generating a tree needs no preparation pipeline.
"""

from cropland.data.synthetic.character import HARD, Character
from cropland.data.synthetic.draws import draw_settings
from cropland.data.synthetic.naming import synthetic_file_name
from cropland.data.synthetic.tree_writer import generate_tree, tree_summary_path

__all__ = [
    "HARD",
    "Character",
    "draw_settings",
    "generate_tree",
    "synthetic_file_name",
    "tree_summary_path",
]
