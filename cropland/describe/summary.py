"""The short human-readable summary of a description: a rich table and TensorBoard markdown."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cropland.data.splits import SPLIT_NAMES


def class_table(description: dict) -> Table:
    """Sequences per class and split, with totals."""
    counts = description["class_counts"]
    table = Table(title="Sequences per class and split")
    table.add_column("class")
    for name in (*SPLIT_NAMES, "total"):
        table.add_column(name, justify="right")
    for name in description["classes"]:
        per_split = [counts[split][name] for split in SPLIT_NAMES]
        table.add_row(name, *map(str, per_split), str(sum(per_split)))
    totals = [sum(counts[split].values()) for split in SPLIT_NAMES]
    table.add_section()
    table.add_row("total", *map(str, totals), str(sum(totals)), style="bold")
    return table


def print_summary(description: dict, output_dir: str) -> None:
    console = Console()
    console.print(class_table(description))
    lengths = description["sequence_lengths"]["all"]
    lines = [
        f"split: {description['split']['title']}",
        f"{description['records']} records in {description['sequences']} sequences; "
        f"{description['unknown_label_sequences']} with an unknown crop label (in no split)",
        "sequence lengths: " + ", ".join(f"{n} dates: {count}" for n, count in lengths.items()),
        f"Wrote describe.json and figures to {output_dir}",
    ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def markdown_summary(description: dict) -> str:
    """The class table as markdown, which TensorBoard's text tab renders as a table."""
    counts = description["class_counts"]
    lines = [
        f"**{description['file']}**: {description['records']} records in "
        f"{description['sequences']} sequences, split {description['split']['title']}; "
        f"{description['unknown_label_sequences']} with an unknown crop label.",
        "",
        "| class | " + " | ".join(SPLIT_NAMES) + " | total |",
        "|---|" + "---:|" * (len(SPLIT_NAMES) + 1),
    ]
    for name in description["classes"]:
        per_split = [counts[split][name] for split in SPLIT_NAMES]
        lines.append(f"| {name} | " + " | ".join(map(str, per_split)) + f" | {sum(per_split)} |")
    return "\n".join(lines)
