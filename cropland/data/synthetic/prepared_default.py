"""The prepared file of a synthetic dataset, made once when missing: tree, then preparation.

Every process may ask for it (DDP under torchrun, two runs started together): a lock beside the
file lets the first make it while the others wait, then reuse it.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cropland.data.prepare import prepare_dataset
from cropland.data.synthetic.naming import synthetic_file_name
from cropland.data.synthetic.tree_writer import generate_tree
from cropland.errors import CroplandError

log = logging.getLogger(__name__)


def synthetic_tree_for(path: Path) -> Path:
    """Where the PNG tree behind a synthetic prepared file lives: beside it, same stem."""
    return path.with_suffix("")


def ensure_synthetic_file(path: Path, settings: dict) -> None:
    """Make ``path`` from ``settings`` (``data.synthetic``) unless it exists already.

    ``path`` must be the name :func:`synthetic_file_name` gives the settings, so that data is
    never generated under a name of the user's own, nor a draw's data under another's name.
    """
    draw = settings.get("draw")
    # A drawn generator never reads a file of another name, even one that exists (the tuned
    # tree's, under data=synthetic): its data would not be what the draw says.
    if path.exists() and draw is None:
        return
    try:
        expected = synthetic_file_name(**settings)
    except CroplandError as error:  # the settings name no file; say where they are
        raise CroplandError(f"data.synthetic.{error}") from None
    if path.name != expected and draw is not None:
        raise CroplandError(
            f"data.synthetic.draw={draw} needs a file of its own, {expected}, which "
            f"data.path={path.name} is not: choose data=synthetic_draw "
            f"data.synthetic.draw={draw}, whose path follows the draw"
        )
    if path.name != expected:
        # A path of the user's own that is missing: never generate data under their name.
        raise CroplandError(
            f"data.path={path} does not exist; for a file of yours use data=prepared "
            f"data.path=<file.h5>; for synthetic data with these data.synthetic settings "
            f"the file is named {expected} (under paths.data_dir)"
        )
    with _exclusive_lock(path.with_name(f".{path.name}.lock")):
        if not path.exists():
            _make(path, settings)


def _make(path: Path, settings: dict) -> None:
    tree = synthetic_tree_for(path)
    if not tree.exists():
        log.info("Generating synthetic PNG tree in %s", tree)
        generate_tree(tree, **settings)
    log.info("Preparing %s from %s", path, tree)
    prepare_dataset(tree, path)


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing) for the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
