"""Store operations of the daily schedule beside the member repository.

| item | pk | sk | notes |
|---|---|---|---|
| last completed run | ``SCHEDULER`` | ``LAST_RUN`` | ``run_date``: catch-up starts the day after |
| first attempted run | ``SCHEDULER`` | ``FIRST_ATTEMPT`` | ``run_date``: stands in for the last run until one completes |
| audit draw of a year | ``SCHEDULER`` | ``AUDIT#{year}`` | seed, pool size, sample; written after the draw |
| audit pool entry | ``AUDITPOOL#{year}`` | ``{member}#{credential}`` | a CCP cycle that ended in ``year`` |
| print batch not yet written | ``SCHEDULER`` | ``BATCH#{day}`` | put when ``day``'s run starts, deleted once its CSV is written |
| notice event | ``MEMBER#{id}`` | ``EVENT#notice#{cred}#{kind}#{period}`` | mailed ones also ``list_pk = PRINT#{run date}``; ``email_settled`` once its e-mail is sent or refused |

The print-batch listing (``ListIndex`` ``PRINT#{date}``) is what makes the print batch complete after
a crash: the CSV is rebuilt from every mailed notice recorded that day, not from memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from shared.store import keys
from shared.store.dynamo import TableAccess, from_item, json_body, to_item
from shared.store.members import DAILY_STATE, MemberRepository, WriteOutcome
from shared.store.records import CertificationRecord, DailyState, EventRecord

SCHEDULER_PK = "SCHEDULER"
LAST_RUN_SK = "LAST_RUN"
EMAIL_SETTLED = "email_settled"  # on a notice item: "sent#{day}" or "refused#{day}"; absent = to send


def print_list_pk(day: date) -> str:
    return f"PRINT#{day.isoformat()}"


def audit_pool_pk(year: int) -> str:
    return f"AUDITPOOL#{year}"


class ScheduleStore(TableAccess):
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={keys.PK: {"S": pk}, keys.SK: {"S": sk}}, ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("query").paginate(TableName=self.table_name, **kwargs):
            for raw in page["Items"]:
                yield from_item(raw)

    # ------------------------------------------------------------------ run bookkeeping

    def last_run(self) -> date | None:
        item = self._get(SCHEDULER_PK, LAST_RUN_SK)
        return date.fromisoformat(item["run_date"]) if item else None

    def first_attempt(self, run_date: date) -> date:
        """The date of the first run ever attempted (recorded now if this is it)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(
                    {keys.PK: SCHEDULER_PK, keys.SK: "FIRST_ATTEMPT", "run_date": run_date.isoformat()}
                ),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PK},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            item = self._get(SCHEDULER_PK, "FIRST_ATTEMPT")
            return date.fromisoformat(item["run_date"]) if item else run_date
        return run_date

    def set_last_run(self, run_date: date) -> None:
        """Advance the last completed run date (never moves it back: a backfill of an old date
        must not make the next run re-read weeks of partitions)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item({keys.PK: SCHEDULER_PK, keys.SK: LAST_RUN_SK, "run_date": run_date.isoformat()}),
                ConditionExpression="attribute_not_exists(#pk) OR #run < :run",
                ExpressionAttributeNames={"#pk": keys.PK, "#run": "run_date"},
                ExpressionAttributeValues={":run": {"S": run_date.isoformat()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def set_next_due(
        self,
        member_id: str,
        record: CertificationRecord,
        read_from: date,
        daily: DailyState | None = None,
    ) -> bool:
        """Move a certification to its next action date, unless someone (a payment webhook) moved it
        since the run read it from ``read_from``'s partition. False when left alone. ``daily`` (the
        run's state of the certification) is written with it; when the date was moved meanwhile it is
        still written, alone (one more request, only in that race), so the next run does not see a
        state older than the transitions this run recorded."""
        repository = MemberRepository(self.table_name, self._client)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=repository.cert_item(member_id, record, daily),
                ConditionExpression="#body.#due_on = :read",
                ExpressionAttributeNames={"#body": "body", "#due_on": "due_on"},
                ExpressionAttributeValues={":read": {"S": read_from.isoformat()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if daily is not None:
                self._set_daily_state(member_id, record, daily)
            return False
        return True

    def _set_daily_state(self, member_id: str, record: CertificationRecord, daily: DailyState) -> None:
        """The run's state on a row someone else moved meanwhile (kept only if the roster date is
        still the one the run evaluated: a changed row is read whole next time)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item({keys.PK: keys.member_pk(member_id), keys.SK: keys.cert_sk(record.credential)}),
                UpdateExpression="SET #daily = :daily",
                ConditionExpression="#body.#certified_on = :certified_on",
                ExpressionAttributeNames={
                    "#daily": DAILY_STATE,
                    "#body": "body",
                    "#certified_on": "certified_on",
                },
                ExpressionAttributeValues=to_item(
                    {":daily": json_body(daily), ":certified_on": record.certified_on.isoformat()}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # ------------------------------------------------------------------ notices

    def record_notice(
        self, member_id: str, event: EventRecord, mailed_on: date | None
    ) -> tuple[WriteOutcome, bool]:
        """Conditional put of a notice event (its exactly-once marker), listed for the print batch of
        ``mailed_on`` when it goes by mail. Returns the outcome and whether its e-mail is settled
        (sent or refused for good) - for a duplicate, read from the existing item in the same request
        (``ReturnValuesOnConditionCheckFailure``), so an e-mail a crash or an SES error left unsent
        is sent by the re-run."""
        values: dict[str, Any] = {
            keys.PK: keys.member_pk(member_id),
            keys.SK: keys.event_sk(event.kind, event.key),
            "kind": event.kind,
            "body": json_body(event),
        }
        if mailed_on is not None:
            values[keys.LIST_PK] = print_list_pk(mailed_on)
            values[keys.LIST_SK] = f"{member_id}#{event.key}"
        existing = self.put_new(to_item(values))
        if existing is None:
            return WriteOutcome.CREATED, False
        return WriteOutcome.DUPLICATE, EMAIL_SETTLED in existing

    def settle_email(self, member_id: str, event: EventRecord, outcome: str, on: date) -> None:
        """Mark a notice's e-mail as settled (``sent`` or ``refused``): re-runs no longer send it."""
        self.client.update_item(
            TableName=self.table_name,
            Key={
                keys.PK: {"S": keys.member_pk(member_id)},
                keys.SK: {"S": keys.event_sk(event.kind, event.key)},
            },
            UpdateExpression="SET #settled = :settled",
            ExpressionAttributeNames={"#settled": EMAIL_SETTLED},
            ExpressionAttributeValues={":settled": {"S": f"{outcome}#{on.isoformat()}"}},
        )

    def mailed_notices(self, day: date) -> Iterator[EventRecord]:
        """Every notice listed for the print batch of ``day`` (paginated, in member order)."""
        for item in self._query(
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="#lpk = :lpk",
            ExpressionAttributeNames={"#lpk": keys.LIST_PK},
            ExpressionAttributeValues={":lpk": {"S": print_list_pk(day)}},
        ):
            yield EventRecord.model_validate(item["body"])

    def open_batch(self, day: date) -> None:
        """``day``'s print batch is being filled (a crash leaves this behind for the next run)."""
        self.client.put_item(
            TableName=self.table_name,
            Item=to_item({keys.PK: SCHEDULER_PK, keys.SK: f"BATCH#{day.isoformat()}"}),
        )

    def open_batches(self) -> list[date]:
        """Days whose print batch was opened and never written: one Query, however long the gap."""
        return [
            date.fromisoformat(str(item[keys.SK]).removeprefix("BATCH#"))
            for item in self._query(
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
                ExpressionAttributeValues=to_item({":pk": SCHEDULER_PK, ":prefix": "BATCH#"}),
                ConsistentRead=True,
            )
        ]

    def close_batch(self, day: date) -> None:
        self.client.delete_item(
            TableName=self.table_name,
            Key={keys.PK: {"S": SCHEDULER_PK}, keys.SK: {"S": f"BATCH#{day.isoformat()}"}},
        )

    # ------------------------------------------------------------------ audit draw

    def add_to_audit_pool(self, year: int, member_id: str, credential: str, cycle: dict[str, str]) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    keys.PK: audit_pool_pk(year),
                    keys.SK: f"{member_id}#{credential}",
                    "member_id": member_id,
                    "credential": credential,
                    **cycle,
                }
            ),
        )

    def audit_pool(self, year: int) -> Iterator[dict[str, Any]]:
        yield from self._query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": keys.PK},
            ExpressionAttributeValues={":pk": {"S": audit_pool_pk(year)}},
        )

    def audit_draw(self, year: int) -> dict[str, Any] | None:
        return self._get(SCHEDULER_PK, f"AUDIT#{year}")

    def record_audit_draw(self, year: int, summary: dict[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item=to_item({keys.PK: SCHEDULER_PK, keys.SK: f"AUDIT#{year}", **summary}),
        )
