"""What preparation shows on the console: its progress bars, and the summary once done."""

from __future__ import annotations

import os
from collections import defaultdict

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cropland.data.layout import SPLIT_FOLDERS, UNKNOWN_CLASS
from cropland.data.prepare.summary import prepare_summary_path
from cropland.data.splits import DEFAULT_SPLIT

# Example sources shown per reason in the printed summary; the JSON summary lists them all.
EXAMPLES_PER_REASON = 3


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def print_summary(summary: dict) -> None:
    console = Console()
    folders = list(summary["records_per_split_folder"])
    table = Table(title="sequences per class and split folder")
    table.add_column("class")
    for folder in folders:
        table.add_column(folder, justify="right")
    for name, counts in summary["sequences_per_class"].items():
        table.add_row(name, *(str(counts[f]) for f in folders))
    for crop, counts in summary["unknown_class_sequences"].items():
        table.add_row(f"{crop} (label {UNKNOWN_CLASS})", *(str(counts[f]) for f in folders))
    console.print(table)
    console.print(split_folder_note(summary), soft_wrap=True, markup=False)
    console.print(
        f"stored {summary['records']} records in {summary['sequences']} sequences\n"
        f"dropped {summary['sequences_too_short']} sequences shorter than "
        f"min_length={summary['min_length']} ({summary['records_in_short_sequences']} records)\n"
        f"{summary['sequences_mixed_split_folders']} sequences span several split folders "
        "(each kept in its majority folder)"
    )
    for kind, title in (("skipped", "skipped"), ("notices", "read, with a notice")):
        if summary[kind]:
            console.print(_reason_table(summary, kind, title))
    written = prepare_summary_path(summary["destination"])
    if summary["skipped"] or summary["notices"]:
        console.print(
            f"examples are relative to src={summary['source']}; every one, with the reason, "
            f"is in {written}",
            soft_wrap=True,
            markup=False,
        )
    if summary["records"]:
        console.print(f"wrote {summary['destination']} and {written}", markup=False)
    else:
        console.print(f"wrote only {written}: no usable sequence", markup=False)


def split_folder_note(summary: dict) -> str:
    """What the table's split folders are to training: the source's own, used only when asked
    for; a user reading a tree's training/validation/test counts may take them for the split."""
    used = {folder for folder, count in summary["sequences_per_split_folder"].items() if count}
    note = (
        f"the split folders are the source's own; training's default split is "
        f"data.split={DEFAULT_SPLIT} (seeded, by class); data.split=predefined "
    )
    if used <= set(SPLIT_FOLDERS):
        return note + "uses these folders"
    return note + f"needs every sequence in {'/'.join(SPLIT_FOLDERS)} folders, so not this file"


def _reason_table(summary: dict, kind: str, title: str) -> Table:
    """Counts per reason, with a few example files or rows each (the JSON lists them all)."""
    table = Table(title=title)
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")
    examples: dict[str, list[str]] = defaultdict(list)
    for item in summary[kind]:
        if len(examples[item["reason"]]) < EXAMPLES_PER_REASON:
            examples[item["reason"]].append(_relative(item["path"], summary["source"]))
    for reason, count in summary[f"{kind}_by_reason"].items():
        # Text, not a markup string: "[row 17]" and odd file names must print as they are.
        table.add_row(reason, str(count), Text("\n".join(examples[reason])))
    return table


def _relative(path: str, source: str) -> str:
    """``path`` without the ``src`` prefix: a tree's files, or a published file's rows."""
    if path.startswith(source + os.sep):
        return path[len(source) + 1 :]
    if path.startswith(source + "["):
        return path[len(source) :]
    return path
