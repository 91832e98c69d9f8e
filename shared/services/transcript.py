"""The member's CE transcript as a PDF (fpdf2): activities per certification and cycle, totals per
category and certification, and the date it was produced. What a member hands an employer or keeps
for an audit.

Text that members (or LMS catalogs) typed is neutralised before it reaches the page: control
characters are dropped and characters the PDF core fonts cannot show (outside Latin-1) become "?".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.rules.policy import Category

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def neutral(text: str) -> str:
    """Printable Latin-1 text (the PDF core fonts' character set), control characters removed."""
    return _CONTROL.sub("", text).encode("latin-1", "replace").decode("latin-1")


@dataclass(frozen=True)
class TranscriptRow:
    completed_on: date
    source: str
    category: str
    title: str
    points: Decimal
    note: str  # "counted" or the reason it counts 0


@dataclass(frozen=True)
class TranscriptCycle:
    credential: str
    number: int
    start: date
    end: date
    required: int
    rows: list[TranscriptRow]

    def totals(self, caps: Mapping[Category, Decimal]) -> dict[str, Decimal]:
        """Counted points per category, each capped like the status tally (``CCP_CATEGORY_CAPS``)."""
        sums: dict[str, Decimal] = {}
        for row in self.rows:
            if row.note == "counted":
                sums[row.category] = sums.get(row.category, Decimal(0)) + row.points
        return {
            category: min(points, caps[Category(category)]) if Category(category) in caps else points
            for category, points in sorted(sums.items())
        }


def _points(value: Decimal) -> str:
    return f"{value.normalize():f}"


def render(
    member_name: str,
    member_id: str,
    produced_on: date,
    cycles: Iterable[TranscriptCycle],
    caps: Mapping[Category, Decimal],
) -> bytes:
    # fpdf2 (with Pillow and fontTools) is imported on the first transcript, not at cold start: most
    # invocations of the functions that can render one never do.
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="portrait", format="Letter")
    pdf.set_title(neutral(f"CE transcript {member_id}"))
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(0, 8, "Continuing education (CCP) transcript", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    for line in (f"Member: {member_name} ({member_id})", f"Produced on {produced_on.isoformat()}"):
        pdf.cell(0, 6, neutral(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    empty = True
    for cycle in cycles:
        empty = False
        pdf.ln(4)
        pdf.set_font("Helvetica", style="B", size=11)
        heading = (
            f"{cycle.credential} - cycle {cycle.number}: {cycle.start.isoformat()} to {cycle.end.isoformat()}"
        )
        pdf.cell(0, 7, neutral(heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=8)
        with pdf.table(col_widths=(18, 18, 28, 70, 12, 34), text_align="LEFT") as table:
            table.row(["Date", "Source", "Category", "Activity", "Points", "Counted"])
            for row in cycle.rows:
                table.row(
                    [
                        row.completed_on.isoformat(),
                        neutral(row.source),
                        neutral(row.category),
                        neutral(row.title),
                        _points(row.points),
                        neutral(row.note),
                    ]
                )
        totals = cycle.totals(caps)
        pdf.set_font("Helvetica", size=9)
        for category, points in totals.items():
            pdf.cell(
                0, 5, neutral(f"Total {category}: {_points(points)}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        total = sum(totals.values(), Decimal(0))
        pdf.set_font("Helvetica", style="B", size=9)
        summary = (
            f"Total {cycle.credential} cycle {cycle.number}: {_points(total)} of {cycle.required} points"
        )
        pdf.cell(0, 6, neutral(summary), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if empty:
        pdf.ln(4)
        pdf.cell(
            0, 6, "No CE activities recorded for the cycles asked for.", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    return bytes(pdf.output())
