"""S3 uploads: provider CSV batches and evidence documents, through CeUploadFunction's handler with
the S3 ObjectCreated event Lambda receives (in-process moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.events import s3_object_created_event
from shared.rules.models import AuditDecided, AuditDrawn
from shared.store.members import MemberRepository
from shared.store.records import EventRecord
from tests.ce_ingest.conftest import BUCKET, ccp, member, timeline
from tests.conftest import TABLE, reset_caches
from tests.helpers import call_api, invoke

HEADER = "member_id,activity_id,completed_on,points,category,certificate_id\n"


def s3_event(key: str, size: int = 0) -> dict[str, Any]:
    return s3_object_created_event(BUCKET, key, size)


def upload(ce: dict[str, Any], key: str, body: bytes, content_type: str = "text/csv") -> Any:
    ce["s3"].put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)
    return invoke("CeUploadFunction", s3_event(key, len(body)))


def result_file(ce: dict[str, Any], key: str) -> dict[str, Any]:
    body = ce["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def keys_in(ce: dict[str, Any], prefix: str) -> list[str]:
    listed = ce["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


@pytest.fixture
def roster(ce: dict[str, Any], business_date: Any) -> dict[str, Any]:
    business_date("2024-03-20")
    member("m-1", "2022-01-10")
    member("m-2", "2024-01-10")
    member("m-3", "2021-06-01")
    return ce


MIXED = (
    HEADER
    + "m-1,https://acme.example.org/a,2023-05-01,2,professional_education,C-1\n"  # 2 good
    + "m-1,https://acme.example.org/b,2023-06-01,1.5,formal_education,C-2\n"  # 3 good
    + "ghost,https://acme.example.org/a,2023-05-01,2,professional_education,C-3\n"  # 4 unknown member
    + "m-1,https://acme.example.org/c,2023-13-01,2,professional_education,C-4\n"  # 5 bad date
    + "m-1,https://acme.example.org/d,2023-05-02,-1,professional_education,C-5\n"  # 6 negative
    + "m-1,https://acme.example.org/e,2023-05-03,two,professional_education,C-6\n"  # 7 non-numeric
    + "m-1,https://acme.example.org/f,2023-05-04,1,cooking,C-7\n"  # 8 unknown category
    + "m-1,https://acme.example.org/b,2023-06-01,1.5,formal_education,C-2\n"  # 9 duplicate row
    + "m-2,https://acme.example.org/a,2024-01-09,2,professional_education,C-8\n"  # 10 before cycle start
    + "m-3,https://acme.example.org/job,2021-07-01,4,employment,C-9\n"  # 11 employment after cut-off
    + "m-2,https://acme.example.org/a,2024-01-10,2,professional_education,\n"  # 12 good (file+line key)
)


def test_mixed_rows_exact_accepted_count_and_reasons(roster: dict[str, Any]) -> None:
    upload(roster, "ce-batches/acme/2024-03.csv", MIXED.encode())
    result = result_file(roster, "ce-batches-results/acme/2024-03.json")
    assert (result["rows"], result["accepted"], result["already_recorded"]) == (11, 3, 0)
    assert result["rejected"] == [
        {"line": 4, "reason": "unknown member ghost"},
        {"line": 5, "reason": "bad date '2023-13-01' (expected YYYY-MM-DD)"},
        {"line": 6, "reason": "negative points"},
        {"line": 7, "reason": "points not a number: 'two'"},
        {"line": 8, "reason": "unknown category 'cooking'"},
        {"line": 9, "reason": "duplicate certificate_id (line 3)"},
        {"line": 10, "reason": "earned before cycle start"},
        {"line": 11, "reason": "employment points only claimable through 2020-12-31"},
    ]
    assert ccp("m-1")["earned"] == 3.5
    assert ccp("m-2")["earned"] == 2
    assert ccp("m-3")["earned"] == 0
    assert keys_in(roster, "ce-batches/") == ["ce-batches/acme/2024-03.csv"]  # the original stays


def test_reupload_and_redelivery_credit_nothing_twice(roster: dict[str, Any]) -> None:
    key = "ce-batches/acme/2024-03.csv"
    upload(roster, key, MIXED.encode())
    stored = roster["dynamodb"].scan(TableName=TABLE)["Items"]
    invoke("CeUploadFunction", s3_event(key))  # S3 delivers the same event again
    upload(roster, key, MIXED.encode())  # the provider uploads the file again
    result = result_file(roster, "ce-batches-results/acme/2024-03.json")
    assert (result["accepted"], result["already_recorded"], len(result["rejected"])) == (0, 3, 8)
    assert roster["dynamodb"].scan(TableName=TABLE)["Items"] == stored
    assert ccp("m-1")["earned"] == 3.5


def test_same_certificate_in_another_file_is_not_credited_again(roster: dict[str, Any]) -> None:
    row = "m-1,https://acme.example.org/a,2023-05-01,2,professional_education,C-1\n"
    upload(roster, "ce-batches/acme/jan.csv", (HEADER + row).encode())
    upload(roster, "ce-batches/acme/feb.csv", (HEADER + row).encode())
    assert result_file(roster, "ce-batches-results/acme/feb.json")["already_recorded"] == 1
    assert ccp("m-1")["earned"] == 2


def test_bom_and_column_order_are_accepted(roster: dict[str, Any]) -> None:
    body = (
        "\ufeffcertificate_id,member_id,activity_id,completed_on,points,category\r\n"
        "Z-1,m-1,https://acme.example.org/a,2023-05-01,2,authorship\r\n"
    ).encode()
    upload(roster, "ce-batches/acme/bom.csv", body)
    assert result_file(roster, "ce-batches-results/acme/bom.json")["accepted"] == 1
    assert ccp("m-1")["by_category"]["authorship"] == 2


def test_a_file_without_the_header_is_reported_whole(roster: dict[str, Any]) -> None:
    upload(
        roster, "ce-batches/acme/nohead.csv", b"m-1,https://acme.example.org/a,2023-05-01,2,authorship,X\n"
    )
    result = result_file(roster, "ce-batches-results/acme/nohead.json")
    assert result["accepted"] == 0
    assert "header must name the columns" in result["error"]


# ---------------------------------------------------------------------- evidence

PDF = b"%PDF-1.7\n" + b"0" * 100


def draw_audit(member_id: str = "m-1", decided: bool = False) -> None:
    repository = MemberRepository(TABLE)
    repository.record_fact(
        member_id,
        AuditDrawn(
            key="A-2024-1",
            recorded_on="2024-01-15",  # type: ignore[arg-type]
            audit_id="A-2024-1",
            credential="RMA",
            cycle_start="2022-01-10",  # type: ignore[arg-type]
            cycle_end="2025-01-09",  # type: ignore[arg-type]
            drawn_on="2024-01-15",  # type: ignore[arg-type]
            deadline="2024-03-15",  # type: ignore[arg-type]
            seed="s",
        ),
    )
    if decided:
        repository.record_fact(
            member_id,
            AuditDecided(
                key="A-2024-1",
                recorded_on="2024-03-01",  # type: ignore[arg-type]
                audit_id="A-2024-1",
                credential="RMA",
                outcome="passed",
                decided_on="2024-03-01",  # type: ignore[arg-type]
            ),
        )


def quarantined() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = call_api("GET", "/admin/quarantined-uploads").body["items"]
    return items


def test_evidence_without_open_audit_is_quarantined_with_reason(roster: dict[str, Any]) -> None:
    key = "evidence/m-1/audit/certificate.pdf"
    upload(roster, key, PDF, "application/pdf")
    assert keys_in(roster, "evidence/") == []
    assert keys_in(roster, "quarantine/") == [f"quarantine/{key}"]
    head = roster["s3"].head_object(Bucket=BUCKET, Key=f"quarantine/{key}")
    assert head["Metadata"]["quarantine-reason"] == "no open audit for this member"
    assert [(q["original_key"], q["reason"]) for q in quarantined()] == [
        (key, "no open audit for this member")
    ]


def test_evidence_after_the_audit_was_decided_is_quarantined(roster: dict[str, Any]) -> None:
    draw_audit(decided=True)
    upload(roster, "evidence/m-1/audit/late.pdf", PDF, "application/pdf")
    assert [q["reason"] for q in quarantined()] == ["no open audit for this member"]


def test_evidence_for_an_open_audit_is_recorded_against_it(roster: dict[str, Any]) -> None:
    draw_audit()
    key = "evidence/m-1/audit/my certificate.pdf"
    upload(roster, key, PDF, "application/pdf")
    assert keys_in(roster, "evidence/") == [key]
    [entry] = [e for e in timeline("m-1") if e["kind"] == "evidence"]
    assert entry["data"]["audit_id"] == "A-2024-1"
    assert entry["data"]["s3_key"] == key
    assert entry["data"]["purpose"] == "audit"
    assert quarantined() == []


def test_evidence_for_an_open_recertification_application_is_recorded(roster: dict[str, Any]) -> None:
    MemberRepository(TABLE).record_event(
        "m-1",
        EventRecord(
            kind="recert_application",
            key="APP-1",
            occurred_on="2024-03-01",  # type: ignore[arg-type]
            recorded_on="2024-03-01",  # type: ignore[arg-type]
            credential="RMA",
            summary="recertification application opened",
            data={"status": "open"},
        ),
    )
    upload(
        roster, "evidence/m-1/recertification/transcript.png", b"\x89PNG\r\n\x1a\n" + b"0" * 50, "image/png"
    )
    [entry] = [e for e in timeline("m-1") if e["kind"] == "evidence"]
    assert entry["data"]["application_id"] == "APP-1"


def test_evidence_without_open_application_is_quarantined(roster: dict[str, Any]) -> None:
    upload(roster, "evidence/m-1/recertification/transcript.pdf", PDF, "application/pdf")
    assert [q["reason"] for q in quarantined()] == ["no open recertification application for this member"]


@pytest.mark.parametrize(
    ("key", "body", "content_type", "reason"),
    [
        ("evidence/m-1/audit/run.exe", b"MZ" + b"0" * 20, "application/octet-stream", "content type"),
        (
            "evidence/m-1/audit/fake.pdf",
            b"MZ" + b"0" * 20,
            "application/pdf",
            "content is not application/pdf",
        ),
        ("evidence/m-1/audit/big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf", "too large"),
        ("evidence/m-1/../audit/x.pdf", PDF, "application/pdf", "unsafe key"),
        ("evidence/m-1/audit/%2e%2e%2fx.pdf", PDF, "application/pdf", "unsafe key"),
        ("evidence/m-1/holiday/x.pdf", PDF, "application/pdf", "unknown purpose"),
        ("evidence/ghost/audit/x.pdf", PDF, "application/pdf", "unknown member ghost"),
    ],
    ids=["type", "sniff", "size", "dotdot", "encoded", "purpose", "member"],
)
def test_evidence_refused_lands_in_quarantine(
    roster: dict[str, Any], key: str, body: bytes, content_type: str, reason: str
) -> None:
    draw_audit()
    upload(roster, key, body, content_type)
    [item] = quarantined()
    assert reason in item["reason"]
    assert keys_in(roster, "quarantine/") == [f"quarantine/{item['original_key']}"]
    assert keys_in(roster, "evidence/") == []
    assert [e for e in timeline("m-1") if e["kind"] == "evidence"] == []


def test_an_empty_evidence_upload_is_quarantined_as_empty(roster: dict[str, Any]) -> None:
    draw_audit()
    key = "evidence/m-1/audit/empty.pdf"
    upload(roster, key, b"", "application/pdf")
    assert [(q["original_key"], q["reason"]) for q in quarantined()] == [(key, "empty")]
    assert keys_in(roster, "evidence/") == []
    assert keys_in(roster, "quarantine/") == [f"quarantine/{key}"]


@pytest.mark.parametrize(
    "key", ["evidence/m-1/audit/certificate.pdf", "evidence/m-1/../audit/x.pdf"], ids=["refused", "unsafe"]
)
def test_a_redelivered_event_after_quarantine_changes_nothing(roster: dict[str, Any], key: str) -> None:
    upload(roster, key, PDF, "application/pdf")
    before = (quarantined(), keys_in(roster, "quarantine/"))
    result = invoke("CeUploadFunction", s3_event(key, len(PDF)))  # S3 delivers at least once
    assert result["results"][0]["recorded"] is False
    assert (quarantined(), keys_in(roster, "quarantine/")) == before


def test_a_very_long_evidence_key_is_quarantined_with_its_record(roster: dict[str, Any]) -> None:
    key = "evidence/m-1/audit/" + "a" * 1000 + ".pdf"  # 1023 bytes: S3's limit is 1024
    upload(roster, key, PDF, "application/pdf")
    [item] = quarantined()
    assert (item["original_key"], item["reason"]) == (
        key,
        "file name not allowed (letters, digits, space, ._()- only)",
    )
    assert keys_in(roster, "evidence/") == []
    assert keys_in(roster, "quarantine/") == [item["quarantine_key"]]


def test_a_csv_field_over_the_reader_limit_is_reported_in_the_result_file(roster: dict[str, Any]) -> None:
    body = (
        HEADER + "m-1,https://acme.example.org/a,2023-05-01,2,professional_education," + "x" * 200_000 + "\n"
    )
    upload(roster, "ce-batches/acme/huge.csv", body.encode())
    result = result_file(roster, "ce-batches-results/acme/huge.json")
    assert result["accepted"] == 0
    assert "line 2" in result["error"]
    assert ccp("m-1")["earned"] == 0


def test_a_failed_quarantine_record_leaves_the_upload_in_place(
    roster: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.store.catalog import CatalogRepository

    def fail(*_: Any) -> None:
        raise RuntimeError("table unavailable")

    key = "evidence/m-1/audit/certificate.pdf"
    real = CatalogRepository.record_quarantine
    monkeypatch.setattr(CatalogRepository, "record_quarantine", fail)
    with pytest.raises(RuntimeError):
        upload(roster, key, PDF, "application/pdf")
    assert keys_in(roster, "evidence/") == [key]  # not moved without a record: the retry finds it
    monkeypatch.setattr(CatalogRepository, "record_quarantine", real)
    invoke("CeUploadFunction", s3_event(key, len(PDF)))
    assert [q["original_key"] for q in quarantined()] == [key]
    assert keys_in(roster, "quarantine/") == [f"quarantine/{key}"]


def test_a_csv_batch_over_the_size_limit_is_quarantined_with_the_reason(
    roster: dict[str, Any], monkeypatch: pytest.MonkeyPatch, emitted_metrics: Any
) -> None:
    monkeypatch.setenv("CE_BATCH_MAX_BYTES", "2048")
    reset_caches()
    key = "ce-batches/acme/big.csv"
    row = "m-1,https://acme.example.org/a{n},2023-05-01,0.5,professional_education,C-{n}\n"
    body = (HEADER + "".join(row.format(n=n) for n in range(40))).encode()
    assert len(body) > 2048
    emitted_metrics()
    upload(roster, key, body)
    reason = f"too large: {len(body)} bytes (limit 2048); split it into smaller files"
    assert keys_in(roster, "ce-batches/") == []
    assert keys_in(roster, "quarantine/") == [f"quarantine/{key}"]
    head = roster["s3"].head_object(Bucket=BUCKET, Key=f"quarantine/{key}")
    assert head["Metadata"]["quarantine-reason"] == reason
    assert [(q["original_key"], q["reason"]) for q in quarantined()] == [(key, reason)]
    assert result_file(roster, "ce-batches-results/acme/big.json")["error"] == reason
    assert ccp("m-1")["earned"] == 0  # nothing of it credited
    assert emitted_metrics() == {("UploadsQuarantined", (("source", "csv"),)): 1}

    # just under the limit the same rows are read and credited
    monkeypatch.setenv("CE_BATCH_MAX_BYTES", str(len(body)))
    reset_caches()
    emitted_metrics()
    upload(roster, "ce-batches/acme/fits.csv", body)
    result = result_file(roster, "ce-batches-results/acme/fits.json")
    assert result["accepted"] == 40
    assert emitted_metrics()[("CeCredited", (("source", "csv"),))] == 40
