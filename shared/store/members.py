"""The member repository: one member partition = one aggregate (profile, certifications, facts).

Writes of facts are idempotent by construction: the item key is derived from the fact's source, and
the put is conditional on the key not existing, so a redelivered event costs one failed conditional
write and changes nothing (docs/architecture.md, data principles 1 and 3).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, TypeAdapter

from shared.rules.models import Checkpoint, Fact
from shared.store import keys
from shared.store.dynamo import TableAccess, from_item, json_body, to_item
from shared.store.records import (
    CertificationRecord,
    DailyState,
    EventRecord,
    MemberProfile,
    MemberRecord,
)

# built on first use, not at import (cold start)
_FACT_ADAPTER: TypeAdapter[Fact] = TypeAdapter(Fact, config=ConfigDict(defer_build=True))
_BATCH_WRITE_LIMIT = 25
_UNPROCESSED_RETRIES = 8  # BatchWriteItem UnprocessedItems: re-sends before failing
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 5.0


_BATCH_GET_LIMIT = 100
DAILY_STATE = "daily"  # the daily run's state on a certification row (records.DailyState), in DueIndex
# First RecordedIndex page of a bounded read (later pages double): the header items (profile,
# certifications, checkpoints, badges) and the few facts recorded since a checkpoint fit in it. A
# Query is charged for every item of a page, so a page larger than what the read needs is paid for.
RECENT_PAGE_ITEMS = 12


def _backoff(attempt: int) -> None:
    """Before re-sending unprocessed batch items: bounded exponential backoff with jitter, then give up."""
    if attempt > _UNPROCESSED_RETRIES:
        raise RuntimeError(f"batch request left items unprocessed after {attempt} attempts")
    time.sleep(min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt) * random.random())  # noqa: S311


class WriteOutcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"  # same key, same content: nothing changed
    CONFLICT = "conflict"  # same key, different content


@dataclass(frozen=True)
class DueCertification:
    """A DueIndex entry: the certification row's projection (``certification`` and ``daily`` are
    None on an index created before they were projected, and ``daily`` on a row the run never wrote)."""

    member_id: str
    credential: str
    due_on: date
    certification: CertificationRecord | None = None
    daily: DailyState | None = None


@dataclass(frozen=True)
class RecordedSince:
    """The daily run's bounded read of a member (``MemberRepository.load_since``)."""

    facts: tuple[Fact, ...]
    events: tuple[EventRecord, ...]  # badges and open recertification applications
    items: int


def _fact_key(fact: Fact) -> tuple[str, str]:
    return fact.kind, fact.key


def _record(items: Iterable[dict[str, Any]], *, complete: bool) -> MemberRecord | None:
    """A member record from the items of its partition (or of its RecordedIndex range)."""
    profile: MemberProfile | None = None
    certifications: dict[str, CertificationRecord] = {}
    checkpoints: dict[str, Checkpoint] = {}
    facts: list[Fact] = []
    events: list[EventRecord] = []
    for item in items:
        sort_key: str = item[keys.SK]
        if sort_key == keys.PROFILE_SK:
            profile = MemberProfile.model_validate(item["body"])
        elif sort_key.startswith(keys.CERT_PREFIX):
            record = CertificationRecord.model_validate(item["body"])
            certifications[record.credential] = record
        elif sort_key.startswith(keys.CHECKPOINT_PREFIX):
            checkpoint = Checkpoint.model_validate(item["body"])
            checkpoints[checkpoint.credential] = checkpoint
        elif sort_key.startswith(keys.FACT_PREFIX):
            facts.append(_FACT_ADAPTER.validate_python(item["body"]))
        elif sort_key.startswith(keys.EVENT_PREFIX):
            events.append(EventRecord.model_validate(item["body"]))
    if profile is None:
        return None
    return MemberRecord(
        profile=profile,
        certifications=certifications,
        facts=tuple(facts),
        events=tuple(events),
        checkpoints=checkpoints,
        complete=complete,
    )


def _read_back_to(header: MemberRecord, newest: date) -> date | None:
    """The recorded day at which a bounded read stops (facts recorded on or before it are folded in
    every checkpoint); None (read everything) when a certification has no checkpoint."""
    if set(header.checkpoints) != set(header.certifications):
        return None
    return min((c.through for c in header.checkpoints.values()), default=newest)


class MemberRepository(TableAccess):
    """DynamoDB access for member partitions. ``client`` defaults to the process-wide client."""

    # ------------------------------------------------------------------ reads

    def load(self, member_id: str) -> MemberRecord | None:
        """The whole member partition in one (paginated) Query; None if the member is unknown."""
        return _record(self._query_partition(member_id), complete=True)

    def load_recent(self, member_id: str, page_items: int = RECENT_PAGE_ITEMS) -> MemberRecord | None:
        """The bounded read of a status: ONE Query of RecordedIndex from the start of the member's
        range - the header items (profile, certifications, checkpoints, badges), then the facts newest
        recorded first - that stops at the first fact recorded on or before the oldest checkpoint's
        day. Pages of ``page_items``, then twice as many each: a member with a recent checkpoint is
        one page whatever their years of history.

        When a certification has no checkpoint yet, the same Query reads on to the end of the range
        (every fact). None for an unknown member. The record has ``complete=False``: its only events
        are badges, and its facts are those recorded after the oldest checkpoint (plus at most a
        page's overrun) - all of them when a certification has no checkpoint."""
        items: list[dict[str, Any]] = []
        threshold: date | None = None
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": keys.RECORDED_INDEX,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.PK},
            "ExpressionAttributeValues": {":pk": {"S": keys.member_pk(member_id)}},
            "Limit": page_items,
        }
        while True:
            page = self.client.query(**kwargs)
            done = "LastEvaluatedKey" not in page
            for raw in page["Items"]:
                item = from_item(raw)
                recorded = keys.recorded_on_of(item[keys.RECORDED_SK])
                if recorded is not None and threshold is None:  # the header items are all read
                    header = _record(items, complete=False)
                    if header is None:
                        return None
                    threshold = _read_back_to(header, recorded)
                if recorded is not None and threshold is not None and recorded <= threshold:
                    done = True
                    break
                items.append(item)
            if done:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] *= 2
        return _record(items, complete=False)

    def load_since(self, member_id: str, through: date | None) -> RecordedSince:
        """The daily run's read of a member whose due entry carries its checkpoints: ONE Query of
        RecordedIndex (paginated) over ``keys.daily_range`` - the badges, the open recertification
        applications and the facts recorded after ``through`` (None: every fact). Not the profile,
        certification rows or checkpoints (the due entry has them), nor any fact the checkpoint
        folded."""
        low, high = keys.daily_range(through)
        facts: list[Fact] = []
        events: list[EventRecord] = []
        items = 0
        for item in self._index_range(
            keys.RECORDED_INDEX, (keys.PK, keys.member_pk(member_id)), keys.RECORDED_SK, low, high
        ):
            items += 1
            if item[keys.SK].startswith(keys.FACT_PREFIX):
                facts.append(_FACT_ADAPTER.validate_python(item["body"]))
            else:
                events.append(EventRecord.model_validate(item["body"]))
        return RecordedSince(facts=tuple(facts), events=tuple(events), items=items)

    def _index_range(
        self, index: str, partition: tuple[str, str], sort_key: str, low: str, high: str
    ) -> Iterator[dict[str, Any]]:
        """The items of one index partition whose sort key is in ``[low, high]`` (paginated Query)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=index,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
            ExpressionAttributeNames={"#pk": partition[0], "#sk": sort_key},
            ExpressionAttributeValues={
                ":pk": {"S": partition[1]},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        )
        for page in pages:
            for raw in page["Items"]:
                yield from_item(raw)

    def _query_partition(self, member_id: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": keys.PK},
            ExpressionAttributeValues={":pk": {"S": keys.member_pk(member_id)}},
        )
        for page in pages:
            for item in page["Items"]:
                yield from_item(item)

    def put_checkpoint(self, member_id: str, checkpoint: Checkpoint) -> None:
        """Write (or replace) a certification's checkpoint: derived data, rebuilt from the facts."""
        item = keys.indexed(
            {
                keys.PK: keys.member_pk(member_id),
                keys.SK: keys.checkpoint_sk(checkpoint.credential),
                "body": json_body(checkpoint),
            }
        )
        self.client.put_item(TableName=self.table_name, Item=to_item(item))

    def delete_checkpoint(self, member_id: str, credential: str) -> None:
        self.client.delete_item(
            TableName=self.table_name,
            Key={keys.PK: {"S": keys.member_pk(member_id)}, keys.SK: {"S": keys.checkpoint_sk(credential)}},
        )

    def member_id_by_email(self, email: str) -> str | None:
        """Access pattern 7: the member whose profile has this e-mail (EmailIndex), or None."""
        response = self.client.query(
            TableName=self.table_name,
            IndexName=keys.EMAIL_INDEX,
            KeyConditionExpression="#e = :e",
            ExpressionAttributeNames={"#e": keys.EMAIL_PK},
            ExpressionAttributeValues={":e": {"S": keys.email_pk(email)}},
            Limit=2,
        )
        found = {from_item(item)["member_id"] for item in response.get("Items", [])}
        return found.pop() if len(found) == 1 else None

    def due_between(self, first: date, last: date) -> Iterator[DueCertification]:
        """Certifications whose next action date is in ``[first, last]``: one paginated Query per
        calendar month of the DueIndex, bounded on the sort key, so only what is due is read."""
        low, high = keys.due_sk_bounds(first, last)
        for month in keys.months_between(first, last):
            for item in self._index_range(
                keys.DUE_INDEX, (keys.DUE_PK, keys.due_pk(month)), keys.DUE_SK, low, high
            ):
                due_on = date.fromisoformat(item[keys.DUE_SK].split("#", 1)[0])
                body, daily = item.get("body"), item.get(DAILY_STATE)
                yield DueCertification(
                    member_id=item["member_id"],
                    credential=item["credential"],
                    due_on=due_on,
                    certification=CertificationRecord.model_validate(body) if body else None,
                    daily=DailyState.model_validate(daily) if daily else None,
                )

    def due_on(self, day: date) -> Iterator[DueCertification]:
        """Certifications whose next action date is ``day``."""
        return self.due_between(day, day)

    # ----------------------------------------------------------------- writes

    def save_member(
        self,
        profile: MemberProfile,
        certifications: Sequence[CertificationRecord],
        previous_email: str | None = None,
        facts: Sequence[Fact] = (),
    ) -> None:
        """Write the profile, certification rows and facts (opening balances) in one transaction
        (all or nothing)."""
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": self.profile_item(profile)}}
        ]
        writes.extend(
            {"Put": {"TableName": self.table_name, "Item": self.cert_item(profile.member_id, c)}}
            for c in certifications
        )
        writes.extend(
            {"Put": {"TableName": self.table_name, "Item": self.fact_item(profile.member_id, f)}}
            for f in facts
        )
        self.client.transact_write_items(TransactItems=writes)

    def profile_item(self, profile: MemberProfile) -> dict[str, Any]:
        return to_item(
            keys.indexed(
                {
                    keys.PK: keys.member_pk(profile.member_id),
                    keys.SK: keys.PROFILE_SK,
                    keys.EMAIL_PK: keys.email_pk(str(profile.email)),
                    "member_id": profile.member_id,
                    "body": json_body(profile),
                }
            )
        )

    def existing_members(self, member_ids: Sequence[str]) -> set[str]:
        """Which of ``member_ids`` have a profile: one BatchGetItem (keys only) per 100 ids."""
        found: set[str] = set()
        for start in range(0, len(member_ids), _BATCH_GET_LIMIT):
            wanted = [
                {keys.PK: {"S": keys.member_pk(m)}, keys.SK: {"S": keys.PROFILE_SK}}
                for m in member_ids[start : start + _BATCH_GET_LIMIT]
            ]
            pending: dict[str, Any] = {self.table_name: {"Keys": wanted, "ProjectionExpression": "member_id"}}
            attempt = 0
            while pending:
                if attempt:
                    _backoff(attempt)
                response = self.client.batch_get_item(RequestItems=pending)
                found.update(
                    item["member_id"]["S"] for item in response["Responses"].get(self.table_name, [])
                )
                pending = response.get("UnprocessedKeys") or {}
                attempt += 1
        return found

    def cert_item(
        self, member_id: str, record: CertificationRecord, daily: DailyState | None = None
    ) -> dict[str, Any]:
        """The certification row, with its DueIndex keys when it has a next action date, and the daily
        run's state when the run writes it (any other writer's row has none)."""
        values: dict[str, Any] = {
            keys.PK: keys.member_pk(member_id),
            keys.SK: keys.cert_sk(record.credential),
            "member_id": member_id,
            "credential": record.credential,
            "body": json_body(record),
        }
        if record.due_on is not None:
            values[keys.DUE_PK] = keys.due_pk(record.due_on)
            values[keys.DUE_SK] = keys.due_sk(record.due_on, member_id, record.credential)
        if daily is not None:
            values[DAILY_STATE] = json_body(daily)
        return to_item(keys.indexed(values))

    def set_due(self, member_id: str, record: CertificationRecord) -> None:
        """Move a certification to its next action date (the scheduler's lazy bookkeeping)."""
        self.client.put_item(TableName=self.table_name, Item=self.cert_item(member_id, record))

    def record_fact(self, member_id: str, fact: Fact) -> WriteOutcome:
        kind, key = _fact_key(fact)
        return self._put_once(member_id, keys.fact_sk(kind, key), json_body(fact), kind)

    def record_event(self, member_id: str, event: EventRecord) -> WriteOutcome:
        return self._put_once(member_id, keys.event_sk(event.kind, event.key), json_body(event), event.kind)

    def _put_once(self, member_id: str, sort_key: str, body: dict[str, Any], kind: str) -> WriteOutcome:
        """Conditional put: the deterministic key is the dedup marker. One request either way."""
        item = to_item(
            keys.indexed({keys.PK: keys.member_pk(member_id), keys.SK: sort_key, "kind": kind, "body": body})
        )
        existing = self.put_new(item)
        if existing is None:
            return WriteOutcome.CREATED
        if existing.get("body") in (None, body):
            return WriteOutcome.DUPLICATE
        return WriteOutcome.CONFLICT

    def fact_item(
        self, member_id: str, fact: Fact, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The DynamoDB item of a fact (same shape as ``record_fact``), with extra index attributes
        (e.g. ``list_pk``/``list_sk``), for callers that batch or transact several writes."""
        kind, key = _fact_key(fact)
        values = {keys.PK: keys.member_pk(member_id), keys.SK: keys.fact_sk(kind, key), "kind": kind}
        return to_item(keys.indexed({**values, **(attributes or {}), "body": json_body(fact)}))

    def event_item(
        self, member_id: str, event: EventRecord, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The DynamoDB item of an event (same shape as ``record_event``), with extra index attributes."""
        sort_key = keys.event_sk(event.kind, event.key)
        return to_item(
            keys.indexed(
                {
                    keys.PK: keys.member_pk(member_id),
                    keys.SK: sort_key,
                    "kind": event.kind,
                    **(attributes or {}),
                    "body": json_body(event),
                }
            )
        )

    def put_facts(self, member_facts: Iterable[tuple[str, Fact]]) -> int:
        """Unconditional batched puts of deterministic-key facts (bulk ingest). Re-putting the same
        fact rewrites identical content, so redelivery stays idempotent. Returns requests made."""
        return self.put_items(self.fact_item(member_id, fact) for member_id, fact in member_facts)

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        """Unconditional puts, 25 per BatchWriteItem (unprocessed items re-sent). Returns requests made."""
        requests = 0
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == _BATCH_WRITE_LIMIT:
                requests += self._flush(batch)
                batch = []
        if batch:
            requests += self._flush(batch)
        return requests

    def _flush(self, batch: list[dict[str, Any]]) -> int:
        requests = 0
        pending: dict[str, Any] = {self.table_name: batch}
        attempt = 0
        while pending:
            if attempt:  # unprocessed items: bounded exponential backoff with jitter, then give up
                _backoff(attempt)
            response = self.client.batch_write_item(RequestItems=pending)
            requests += 1
            attempt += 1
            pending = response.get("UnprocessedItems") or {}
        return requests
