"""What a prepared file must hold before any of it is used (layout in
:mod:`cropland.data.prepared_file`), one kind of check per module, in the order the reader runs
them:

- :mod:`~cropland.data.prepared_checks.data_inside`: its data inside the file (no links,
  external storage or virtual datasets);
- :mod:`~cropland.data.prepared_checks.attributes`: root attributes that are JSON strings of the
  expected kind;
- :mod:`~cropland.data.prepared_checks.datasets`: tables and pixels of the documented dtypes and
  agreeing shapes, with :mod:`~cropland.data.prepared_checks.storage` for sizes the file's
  storage can back;
- :mod:`~cropland.data.prepared_checks.tables`: table values that point inside the records, with
  :mod:`~cropland.data.prepared_checks.sequence_tiling` for sequences that tile them in order.

:mod:`~cropland.data.prepared_checks.refusal` words every refusal. The checks read the file's
metadata and the small tables only, never pixels, so that they can run on every open. Sizes are
judged before anything is read: a few kilobytes of crafted metadata can declare terabytes that
HDF5 would hand out as fill zeros.
"""
