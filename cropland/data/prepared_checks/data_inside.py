"""A prepared file's data stays inside it: no link or storage that reads another file."""

from __future__ import annotations

from typing import Any

import h5py

from cropland.data.prepared_checks.refusal import PreparedFileError, as_text, prepare_again


def check_data_inside(f: h5py.File, path: object) -> None:
    """Refuse soft and external links, external storage and virtual datasets anywhere in ``f``:
    the writer makes none, and following one would read a file (or a pipe, which never ends)
    that whoever made this file chose. No escape hatch: a file of ours never needs one."""
    problems: list[str] = []

    def visit(name: str, link: Any) -> None:
        if problems:
            return
        where = as_text(f"/{name}")
        if isinstance(link, h5py.ExternalLink):
            target = as_text(f"{link.filename}:{link.path}")
            problems.append(f"{where} is an external link to {target}")
        elif isinstance(link, h5py.SoftLink):
            problems.append(f"{where} is a soft link to {as_text(link.path)}")
        elif not isinstance(link, h5py.HardLink):
            problems.append(f"{where} is a user-defined link")
        else:
            item = f.get(name)
            if isinstance(item, h5py.Dataset):
                if item.is_virtual:
                    problems.append(f"{where} is a virtual dataset (its data is in other files)")
                elif item.external:
                    problems.append(f"{where} stores its data in external file(s)")

    f.visititems_links(visit)
    if problems:
        raise PreparedFileError(
            f"{path}: {problems[0]}, expected all data stored inside the file (reading data "
            f"elsewhere could read any file or hang on a pipe, so it is never followed); "
            f"{prepare_again(path, None)}"
        )
