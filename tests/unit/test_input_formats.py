"""The documented format is the contract: a date is ``YYYY-MM-DD`` text, an id pattern matches the
whole value (a trailing newline is not part of an id), and CSV ids carry no control characters."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from shared.adapters.csv_batches import parse_rows
from shared.adapters.xapi import parse_statements
from shared.rules.dates import IsoDate, parse_iso_date
from shared.services.audits import member_of_audit
from shared.services.ce_batches import BatchKey, parse_batch_key
from shared.services.ce_evidence import parse_evidence_key
from shared.services.roster_file import ImportKey, parse_import_key

ROOT = Path(__file__).resolve().parents[2]


class _Dated(BaseModel):
    on: IsoDate


@pytest.mark.parametrize(
    "value", [0, 1_700_000_000, 1.5, True, "2022-01-10T00:00:00", "20220110", "2022-W02-1"]
)
def test_a_date_is_only_yyyy_mm_dd_text(value: object) -> None:
    with pytest.raises(ValidationError):
        _Dated.model_validate({"on": value})
    with pytest.raises(ValidationError):
        _Dated.model_validate_json(f'{{"on": {value!r}}}'.replace("'", '"').replace("True", "true"))


def test_a_date_written_as_documented_and_a_date_object_pass() -> None:
    assert _Dated.model_validate({"on": "2022-01-10"}).on == date(2022, 1, 10)
    assert _Dated(on=date(2022, 1, 10)).on == date(2022, 1, 10)
    assert parse_iso_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(ValueError, match="day is out of range"):
        parse_iso_date("2024-02-30")


def test_an_upload_key_outside_its_layout_names_no_file() -> None:
    assert parse_import_key("roster-imports/dry-run/r.csv") == ImportKey("r", dry_run=True)
    assert parse_batch_key("ce-batches/acme/a.csv") == BatchKey("acme", "a")
    assert parse_import_key("roster-imports/a..b.csv") is None  # the layout allows dots, not ".."
    assert parse_batch_key("ce-batches/acme/a..b.csv") is None
    assert parse_import_key("roster-imports/r.csv\n") is None
    assert parse_import_key("x/roster-imports/r.csv") is None


def test_a_trailing_newline_is_not_part_of_an_id() -> None:
    assert member_of_audit("2024-RMA-m-1") == "m-1"
    assert member_of_audit("2024-RMA-m-1\n") is None
    assert parse_batch_key("ce-batches/acme/file.csv") is not None
    assert parse_batch_key("ce-batches/acme/file.csv\n") is None
    assert isinstance(parse_evidence_key("evidence/m-1/audit/x.pdf\n"), str)  # a reason, not a key
    statement = {
        "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
        "actor": {"mbox": "mailto:ana@example.org\n"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://courses.example.org/a"},
    }
    with pytest.raises(Exception, match=r"actor"):
        parse_statements(statement)


def test_csv_ids_with_control_characters_are_reported_not_credited() -> None:
    header = "member_id,activity_id,completed_on,points,category,certificate_id\n"
    good = "m-1,https://acme.example.org/a,2023-05-01,2,professional_education,C-1\n"
    bad = [
        'm-1,"https://acme.example.org/b\nx",2023-05-01,2,professional_education,C-2\n',
        "m-1,https://acme.example.org/\x00c,2023-05-01,2,professional_education,C-3\n",
        "m-\x001,https://acme.example.org/d,2023-05-01,2,professional_education,C-4\n",
    ]
    rows, rejected, count = parse_rows((header + good + "".join(bad)).encode())
    assert [r.activity_id for r in rows] == ["https://acme.example.org/a"]
    assert len(rejected) == count - 1 == 3


def test_no_regex_match_that_stops_before_the_end_in_deployed_code() -> None:
    """``re.match`` with a ``$``-anchored pattern accepts a trailing newline; deployed code uses
    ``fullmatch`` (pydantic ``pattern=`` is Rust's regex, where ``$`` is the very end)."""
    offenders = []
    for path in [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "match"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
