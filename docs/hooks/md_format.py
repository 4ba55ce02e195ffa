"""Small Markdown writers shared by the generated sections."""
from typing import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; ``|`` in a cell is escaped so that it stays one cell.

    Raises:
        ValueError: If a row has another number of cells than ``header``.
    """
    lines = [_row(header), "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row {row!r} has {len(row)} cells, the header {len(header)}")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def fenced(text: str, language: str = "") -> str:
    """``text`` as a fenced code block."""
    return f"```{language}\n{text.rstrip()}\n```"


def format_percent(value: float) -> str:
    """An accuracy in percent, as the model cards print it (two decimals)."""
    return f"{value:.2f} %"
