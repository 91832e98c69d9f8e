"""docs/reliability.md states the corpus sizes; this keeps them equal to the code."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.reliability.bad_input_cases import CASES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_the_bad_input_figures_in_the_doc_match_the_corpus() -> None:
    text = DOC.read_text()
    found = re.search(r"\*\*(\d+) cases\*\*: (\d+) HTTP, (\d+) S3, (\d+) stream", text)
    assert found, "docs/reliability.md lost its bad-input summary row"
    by_channel = Counter(case.channel for case in CASES)
    assert tuple(int(n) for n in found.groups()) == (
        len(CASES),
        by_channel["http"],
        by_channel["s3"],
        by_channel["stream"],
    )
    for channel, count in by_channel.items():
        label = {"http": "HTTP", "s3": "S3", "stream": "stream"}[channel]
        assert re.search(rf"^\| {label} \| {count} \|", text, re.MULTILINE), f"{label} row says {count}?"
