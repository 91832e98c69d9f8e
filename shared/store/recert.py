"""Store operations of recertification, audits and badges on the single table.

Everything lives in the member partition as event items (``EVENT#{kind}#{key}``, body = EventRecord),
so ``MemberRepository.load`` returns it with the rest of the aggregate and the timeline shows it.
Items that must be found without the member id also carry ``list_pk``/``list_sk`` (ListIndex):

| item | kind / key | ListIndex |
|---|---|---|
| recertification application | ``recert_application`` / application id | ``RECERT_APPLICATION`` / application id |
| audit (indexed from the audit_drawn fact) | ``audit`` / audit id | ``AUDIT`` / audit id |
| Credly badge | ``badge`` / ``{credential}#{application id}`` | ``CREDLY_BADGE`` / Credly badge id |

State changes are conditional writes (optimistic: the expected ``status``/``state``), and completion
is ONE ``TransactWriteItems``: the ``Recertified`` fact (``attribute_not_exists``), the application
closed (condition: still open) and the certification row's next action date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from shared.rules.models import AuditDecided, Fact, Recertified
from shared.store import keys
from shared.store.dynamo import from_item, json_body, to_item
from shared.store.members import MemberRepository
from shared.store.records import EventRecord

APPLICATION_KIND = "recert_application"  # data.status = "open" while the application takes documents
AUDIT_KIND = "audit"
BADGE_KIND = "badge"
EXAM_RESULT_KIND = "exam_result"
EVIDENCE_KIND = "evidence"  # recorded by CE ingest: data.application_id / data.audit_id
APPLICATION_LIST = "RECERT_APPLICATION"
AUDIT_LIST = "AUDIT"
BADGE_LIST = "CREDLY_BADGE"


class StaleWrite(Exception):
    """A conditional write lost: the item is not in the state the caller read (re-read and decide)."""


@dataclass(frozen=True)
class Listed:
    member_id: str
    body: dict[str, Any]


def _is_condition_failure(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


class RecertStore:
    def __init__(self, repository: MemberRepository) -> None:
        self.repository = repository

    @property
    def table(self) -> str:
        return self.repository.table_name

    def _event_item(
        self, member_id: str, event: EventRecord, list_pk: str | None, list_sk: str | None
    ) -> Any:
        return to_item(
            keys.indexed(
                {
                    keys.PK: keys.member_pk(member_id),
                    keys.SK: keys.event_sk(event.kind, event.key),
                    "kind": event.kind,
                    "body": json_body(event),
                    keys.LIST_PK: list_pk,
                    keys.LIST_SK: list_sk,
                }
            )
        )

    def put_event(
        self,
        member_id: str,
        event: EventRecord,
        *,
        list_keys: tuple[str, str] | None = None,
        expect: dict[str, str] | None = None,
        create: bool = False,
    ) -> None:
        """Put an event item. ``create``: only if absent; ``expect``: only if ``body.data.<name>``
        currently equals the given value (e.g. ``{"status": "open"}``). StaleWrite otherwise."""
        list_pk, list_sk = list_keys or (None, None)
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": self._event_item(member_id, event, list_pk, list_sk),
        }
        request.update(self._condition(create, expect))
        try:
            self.repository.client.put_item(**request)
        except ClientError as error:
            if _is_condition_failure(error):
                raise StaleWrite(f"{event.kind} {event.key}") from error
            raise

    @staticmethod
    def _condition(create: bool, expect: dict[str, str] | None) -> dict[str, Any]:
        if create:
            return {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PK},
            }
        if not expect:
            return {}
        names: dict[str, str] = {"#body": "body", "#data": "data"}
        values: dict[str, Any] = {}
        clauses = []
        for index, (name, value) in enumerate(sorted(expect.items())):
            names[f"#f{index}"] = name
            values[f":v{index}"] = {"S": value}
            clauses.append(f"#body.#data.#f{index} = :v{index}")
        return {
            "ConditionExpression": " AND ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def complete(
        self,
        member_id: str,
        fact: Recertified,
        application: EventRecord,
        next_action_on: date,
    ) -> None:
        """One transaction: the Recertified fact (new), the application (still open -> completed) and
        the certification row's next action date (so the daily run records the return to active)."""
        pk = keys.member_pk(member_id)
        fact_put = self._new_fact_put(member_id, fact)
        app_put = {
            "Put": {
                "TableName": self.table,
                "Item": self._event_item(member_id, application, APPLICATION_LIST, application.key),
                **self._condition(False, {"status": "open"}),
            }
        }
        due_update = {
            "Update": {
                "TableName": self.table,
                "Key": to_item({keys.PK: pk, keys.SK: keys.cert_sk(fact.credential)}),
                "UpdateExpression": "SET #due = :due, #dsk = :dsk, #body.#due_on = :on",
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": {
                    "#pk": keys.PK,
                    "#due": keys.DUE_PK,
                    "#dsk": keys.DUE_SK,
                    "#body": "body",
                    "#due_on": "due_on",
                },
                "ExpressionAttributeValues": {
                    ":due": {"S": keys.due_pk(next_action_on)},
                    ":dsk": {"S": keys.due_sk(next_action_on, member_id, fact.credential)},
                    ":on": {"S": next_action_on.isoformat()},
                },
            }
        }
        self._transact([fact_put, app_put, due_update])

    def decide_audit(self, member_id: str, fact: AuditDecided, transition: EventRecord | None) -> None:
        """The audit decision fact (new) and, for a failure, the lapse transition - one transaction."""
        writes: list[dict[str, Any]] = [self._new_fact_put(member_id, fact)]
        if transition is not None:
            writes.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._event_item(member_id, transition, None, None),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": keys.PK},
                    }
                }
            )
        self._transact(writes)

    def _new_fact_put(self, member_id: str, fact: Fact) -> dict[str, Any]:
        """A transaction Put of a fact that must not exist yet (its key is the dedup marker)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": self.repository.fact_item(member_id, fact),
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PK},
            }
        }

    def _transact(self, writes: Sequence[dict[str, Any]]) -> None:
        try:
            self.repository.client.transact_write_items(TransactItems=list(writes))
        except ClientError as error:
            if _is_condition_failure(error):
                raise StaleWrite("transaction condition failed") from error
            raise

    def find_listed(self, list_pk: str, list_sk: str) -> Listed | None:
        """The item listed under (list_pk, list_sk) in the ListIndex, with its member id."""
        response = self.repository.client.query(
            TableName=self.table,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="#lpk = :lpk AND #lsk = :lsk",
            ExpressionAttributeNames={"#lpk": keys.LIST_PK, "#lsk": keys.LIST_SK},
            ExpressionAttributeValues={":lpk": {"S": list_pk}, ":lsk": {"S": list_sk}},
            Limit=1,
        )
        items = response.get("Items") or []
        if not items:
            return None
        item = from_item(items[0])
        member_id = str(item[keys.PK]).removeprefix("MEMBER#")
        return Listed(member_id=member_id, body=item.get("body") or {})
