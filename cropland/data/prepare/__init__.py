"""Turn the dataset into one prepared HDF5 file (format in :mod:`cropland.data.prepared_file`).

One layer per module, each using only those listed before it:

- :mod:`~cropland.data.prepare.sources`: the PNG tree or the published HDF5, read into patches
  and the files or rows left out;
- :mod:`~cropland.data.prepare.grouping`: patches grouped into records and sequences, every
  image checked, and what was skipped and why;
- :mod:`~cropland.data.prepare.writer`: the selected pixels streamed into the file;
- :mod:`~cropland.data.prepare.summary`: the counts and skips, written beside the file;
- :mod:`~cropland.data.prepare.console`: progress bars and the printed summary;
- :mod:`~cropland.data.prepare.pipeline`: :func:`prepare_dataset`, which runs them in turn.
"""

from cropland.data.prepare.pipeline import prepare_dataset
from cropland.data.prepare.summary import prepare_summary_path

__all__ = ["prepare_dataset", "prepare_summary_path"]
