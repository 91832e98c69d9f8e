"""The payment ledger: where a Stripe payment's facts go, in at most two DynamoDB requests.

Items under ``pk = PAYKEY#{payment key}`` (the PaymentIntent, else Invoice/Session id):

* ``sk = PAYMENT``: pointer ``{member_id, credential}``, written in the same transaction as the
  payment fact - it lets a refund or dispute (which carry no member metadata) find the member.
* ``sk = PENDING``: reversals that arrived before their payment, ``facts`` = {fact sk: body};
  the crediting transaction moves them into the member partition.
* ``sk = PARKED``: a payment for an unknown member/credential (or with unusable metadata), listed
  in the ``ListIndex`` under ``PARKED_PAYMENT`` until the roster brings the member.
* ``sk = EXCEPTION``: a payment held for staff (wrong amount or currency, an invoice already paid or
  unknown), listed under ``PAYMENT_EXCEPTION`` until staff resolve it; it credits nothing.

Under the member, ``sk = INVOICE#{invoice number}`` is the invoice's claim: ``paid_by`` (the payment
fact's key) and ``reversals`` (a string set of the refunds/disputes standing against that payment,
absent when none). The crediting transaction puts a claim for every invoice the payment names, on
condition that there is none or that its payment is reversed; a refund or dispute ``ADD``s itself to
the set, a dispute won ``DELETE``s itself. So the one read of a payment sees whether any invoice it
names is already paid, without reading the member's facts. (Status and the invoice list never read
claims: they derive everything from the facts.)

A payment seen under several ids (a subscription's Checkout Session names only its Invoice, the
Invoice names its PaymentIntent) gets a ``PAYMENT`` pointer under each of its ids, all written by the
crediting transaction and all read by the one ``BatchGetItem``: whichever id a later event is keyed
on, it finds the pointer (and a reversal held under any of them is moved in with the payment).

Every webhook costs one ``BatchGetItem`` (consistent) plus at most one write or transaction; the
transactions carry conditions on the items read, so two racing deliveries cannot lose a reversal:
the loser's transaction is cancelled and it starts over from the read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from shared.rules.models import FeePayment, PaymentReversal, ReversalWithdrawn
from shared.store import keys
from shared.store.dynamo import TableAccess, from_item, json_body, to_item
from shared.store.members import MemberRepository
from shared.store.recert import APPLICATION_KIND
from shared.store.records import EventRecord

PAYKEY_PREFIX = "PAYKEY#"
POINTER_SK = "PAYMENT"
PENDING_SK = "PENDING"
PARKED_SK = "PARKED"
EXCEPTION_SK = "EXCEPTION"
PARKED_LIST = "PARKED_PAYMENT"
EXCEPTION_LIST = "PAYMENT_EXCEPTION"
CLAIM_PREFIX = "INVOICE#"
NO_MEMBER = "-"

ReversalFact = PaymentReversal | ReversalWithdrawn


def paykey_pk(payment_key: str) -> str:
    return f"{PAYKEY_PREFIX}{payment_key}"


def payment_fact_key(pointer: dict[str, Any]) -> str:
    """The key of the payment fact a pointer leads to (its own id for pointers without one)."""
    return str(pointer.get("fact_key") or str(pointer[keys.PK]).removeprefix(PAYKEY_PREFIX))


def _reversal_of(body: dict[str, Any], fact_key: str) -> dict[str, Any]:
    """A held reversal's body, aimed at the fact it reverses (held under an alias of its key)."""
    return {**body, "payment_key": fact_key} if "payment_key" in body else body


class Retry(Exception):
    """A conditional transaction lost a race; read again and retry."""


@dataclass(frozen=True)
class LedgerView:
    """What one consistent BatchGetItem saw for a payment key (and optionally a certification)."""

    pointer: dict[str, Any] | None
    pending: dict[str, Any] | None
    parked: dict[str, Any] | None
    certification_exists: bool | None = None
    # the payment's other ids: alias -> (its pointer, its pending reversals), each None when absent
    aliases: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=dict)
    exception: dict[str, Any] | None = None  # under the payment key or any alias
    certification: dict[str, Any] | None = None  # the certification row, when asked for and present
    claims: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # invoice number -> claim
    application: dict[str, Any] | None = None  # the recertification application, when asked for and present

    @property
    def paid_invoices(self) -> list[str]:
        """Named invoices already paid by a payment that stands (claimed, no reversal against it)."""
        return [
            number
            for number, claim in self.claims.items()
            if claim is not None and not claim.get("reversals")
        ]

    @property
    def pending_facts(self) -> dict[str, Any]:
        return dict((self.pending or {}).get("facts") or {})

    @property
    def any_pointer(self) -> dict[str, Any] | None:
        """The pointer under the payment key or any of its aliases (the payment is credited)."""
        found = [self.pointer, *(pointer for pointer, _ in self.aliases.values())]
        return next((pointer for pointer in found if pointer is not None), None)


@dataclass(frozen=True)
class ParkedPayment:
    payment_key: str
    member_id: str
    credential: str
    reason: str
    received_on: date
    body: dict[str, Any] = field(default_factory=dict)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {keys.PK: {"S": pk}, keys.SK: {"S": sk}}


def claim_sk(invoice_number: str) -> str:
    return f"{CLAIM_PREFIX}{invoice_number}"


def _net_reversals(pending: dict[str, Any]) -> set[str]:
    """Keys of the held reversals that no held dispute-won withdraws."""
    bodies = list(dict(pending.get("facts") or {}).values())
    withdrawn = {
        str(b["reversal_key"])
        for b in bodies
        if b.get("kind") == ReversalWithdrawn.model_fields["kind"].default
    }
    return {
        str(b["key"]) for b in bodies if b.get("kind") == PaymentReversal.model_fields["kind"].default
    } - withdrawn


def _cancel_reasons(error: ClientError) -> list[str]:
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


class PaymentLedger(TableAccess):
    # ------------------------------------------------------------------ the one read

    def view(
        self,
        payment_key: str,
        certification: tuple[str, str] | None = None,
        aliases: tuple[str, ...] = (),
        invoices: tuple[str, ...] = (),
        application_id: str | None = None,
    ) -> LedgerView:
        """Pointer, pending reversals, parked payment and exception, the aliases' pointers, pending
        reversals and exceptions and (optionally) whether the member's certification row exists, the
        claims of the invoices named and the recertification application a payment is for - one
        consistent ``BatchGetItem``."""
        pk = paykey_pk(payment_key)
        wanted = [_key(pk, POINTER_SK), _key(pk, PENDING_SK), _key(pk, PARKED_SK), _key(pk, EXCEPTION_SK)]
        for alias in aliases:
            alias_pk = paykey_pk(alias)
            wanted += [_key(alias_pk, POINTER_SK), _key(alias_pk, PENDING_SK), _key(alias_pk, EXCEPTION_SK)]
        if certification is not None:
            member_id, credential = certification
            wanted.append(_key(keys.member_pk(member_id), keys.cert_sk(credential)))
            wanted += [_key(keys.member_pk(member_id), claim_sk(n)) for n in dict.fromkeys(invoices)]
            if application_id is not None:
                wanted.append(
                    _key(keys.member_pk(member_id), keys.event_sk(APPLICATION_KIND, application_id))
                )
        found: dict[tuple[str, str], dict[str, Any]] = {}
        request: dict[str, Any] = {self.table_name: {"Keys": wanted, "ConsistentRead": True}}
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response["Responses"].get(self.table_name, []):
                item = from_item(raw)
                found[(item[keys.PK], item[keys.SK])] = item
            request = response.get("UnprocessedKeys") or {}
        cert_exists, cert_row, application = None, None, None
        claims: dict[str, dict[str, Any] | None] = {}
        if certification is not None:
            member = keys.member_pk(certification[0])
            cert_row = found.get((member, keys.cert_sk(certification[1])))
            cert_exists = cert_row is not None
            claims = {n: found.get((member, claim_sk(n))) for n in invoices}
            if application_id is not None:
                event = found.get((member, keys.event_sk(APPLICATION_KIND, application_id)))
                application = dict((event or {}).get("body", {}).get("data") or {}) or None
        exceptions = (found.get((paykey_pk(k), EXCEPTION_SK)) for k in (payment_key, *aliases))
        return LedgerView(
            pointer=found.get((pk, POINTER_SK)),
            pending=found.get((pk, PENDING_SK)),
            parked=found.get((pk, PARKED_SK)),
            certification_exists=cert_exists,
            aliases={
                alias: (
                    found.get((paykey_pk(alias), POINTER_SK)),
                    found.get((paykey_pk(alias), PENDING_SK)),
                )
                for alias in aliases
            },
            exception=next((e for e in exceptions if e is not None), None),
            certification=cert_row,
            claims=claims,
            application=application,
        )

    # ------------------------------------------------------------------ writes

    def _nudge(self, member_id: str, credential: str, due: date) -> dict[str, Any]:
        """Update the certification row so the scheduler re-evaluates it on ``due`` (a payment or a
        reversal can change what is due). Conditional on the row existing - never creates one."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(keys.member_pk(member_id), keys.cert_sk(credential)),
                "UpdateExpression": "SET #due = :due, #duesk = :duesk, #body.#due_on = :due_on",
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": {
                    "#due": keys.DUE_PK,
                    "#duesk": keys.DUE_SK,
                    "#body": "body",
                    "#due_on": "due_on",
                    "#pk": keys.PK,
                },
                "ExpressionAttributeValues": to_item(
                    {
                        ":due": keys.due_pk(due),
                        ":duesk": keys.due_sk(due, member_id, credential),
                        ":due_on": due.isoformat(),
                    }
                ),
            }
        }

    def event_item(self, member_id: str, event: EventRecord) -> dict[str, Any]:
        return MemberRepository(self.table_name, self._client).event_item(member_id, event)

    def _move_pending(
        self, member_id: str, id_pk: str, pending: dict[str, Any], fact_key: str, moved: set[str]
    ) -> list[dict[str, Any]]:
        """The writes that move a ``PENDING`` item's held reversals into the member partition, aimed
        at ``fact_key``: a put per reversal not in ``moved`` (one item at most once per transaction;
        ``moved`` collects them), then the item's delete on condition that its token is unchanged."""
        writes: list[dict[str, Any]] = []
        for sort_key, body in dict(pending.get("facts") or {}).items():
            if sort_key in moved:
                continue
            moved.add(sort_key)
            fact = _reversal_of(body, fact_key)
            item = self._fact_item(member_id, sort_key, str(fact["kind"]), fact)
            writes.append({"Put": {"TableName": self.table_name, "Item": item}})
        token = {":token": {"S": str(pending["token"])}}
        delete = {
            "TableName": self.table_name,
            "Key": _key(id_pk, PENDING_SK),
            "ConditionExpression": "#token = :token",
            "ExpressionAttributeNames": {"#token": "token"},
            "ExpressionAttributeValues": token,
        }
        writes.append({"Delete": delete})
        return writes

    def _fact_item(self, member_id: str, sort_key: str, kind: str, body: Any) -> dict[str, Any]:
        return to_item(
            keys.indexed({keys.PK: keys.member_pk(member_id), keys.SK: sort_key, "kind": kind, "body": body})
        )

    def credit(
        self,
        member_id: str,
        payment: FeePayment,
        seen: LedgerView,
        due: date,
        *,
        invoices: tuple[str, ...] = (),
        extra: tuple[dict[str, Any], ...] = (),
    ) -> bool:
        """Record the payment, its pointers, the claims of the ``invoices`` it pays and any pending
        reversals in one transaction (plus ``extra`` writes); the cert row must exist. False when the
        fact or pointer already existed (a duplicate). Raises ``Retry`` when the pending reversals,
        parked item or a claim changed since ``seen``."""
        pk = paykey_pk(payment.key)
        fact_sk = keys.fact_sk(payment.kind, payment.key)
        # the payment key first, then its aliases: (pk, pending seen under it)
        ids = [(pk, seen.pending)] + [(paykey_pk(a), pending) for a, (_, pending) in seen.aliases.items()]
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._fact_item(member_id, fact_sk, payment.kind, json_body(payment)),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": keys.PK},
                }
            }
        ]
        for id_pk, _ in ids:
            pointer: dict[str, Any] = {keys.PK: id_pk, keys.SK: POINTER_SK, "member_id": member_id}
            pointer.update(
                credential=payment.credential, fact_key=payment.key, invoices=list(invoices) or None
            )
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(pointer),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": keys.PK},
                    }
                }
            )
        duplicate_checks = len(writes)  # a failed condition here: the payment is already credited
        writes.append(self._nudge(member_id, payment.credential, due))
        standing_against = set().union(*(_net_reversals(p) for _, p in ids if p is not None))
        for number in dict.fromkeys(invoices):
            claim: dict[str, Any] = {
                keys.PK: keys.member_pk(member_id),
                keys.SK: claim_sk(number),
                "paid_by": payment.key,
            }
            claim["reversals"] = standing_against or None
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(claim),
                        "ConditionExpression": "attribute_not_exists(#pk) OR attribute_exists(#rev)",
                        "ExpressionAttributeNames": {"#pk": keys.PK, "#rev": "reversals"},
                    }
                }
            )
        writes.extend(extra)
        moved: set[str] = set()
        for id_pk, pending in ids:
            if pending is None:
                writes.append(self._absent(id_pk, PENDING_SK))
                continue
            writes.extend(self._move_pending(member_id, id_pk, pending, payment.key, moved))
        if seen.parked is not None:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": _key(pk, PARKED_SK),
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": keys.PK},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = _cancel_reasons(error)
            if "ConditionalCheckFailed" in reasons[:duplicate_checks]:
                return False
            raise Retry(str(reasons)) from error
        return True

    def link(
        self,
        member_id: str,
        credential: str,
        fact_key: str,
        missing: dict[str, dict[str, Any] | None],
        due: date,
        *,
        invoices: tuple[str, ...] = (),
    ) -> None:
        """Add pointers under ids of an already credited payment that lack one (``missing``: id ->
        the pending reversals seen under it), moving those reversals into the member partition.
        Raises ``Retry`` when anything changed since it was read."""
        writes: list[dict[str, Any]] = []
        moved = False
        for payment_key, pending in missing.items():
            pk = paykey_pk(payment_key)
            pointer: dict[str, Any] = {keys.PK: pk, keys.SK: POINTER_SK, "member_id": member_id}
            pointer["credential"] = credential
            pointer.update(fact_key=fact_key, invoices=list(invoices) or None)
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(pointer),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": keys.PK},
                    }
                }
            )
            if pending is None:
                writes.append(self._absent(pk, PENDING_SK))
                continue
            moved = True
            writes.extend(self._move_pending(member_id, pk, pending, fact_key, set()))
        if moved:
            writes.append(self._nudge(member_id, credential, due))
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise Retry(str(_cancel_reasons(error))) from error

    def _absent(self, pk: str, sort_key: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": _key(pk, sort_key),
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PK},
            }
        }

    def reverse(
        self, member_id: str, credential: str, fact: ReversalFact, due: date, pointer: dict[str, Any]
    ) -> bool:
        """Record a reversal (or its withdrawal) in the member partition and on the claims of the
        invoices the payment (``pointer``) paid; False if already there."""
        sort_key = keys.fact_sk(fact.kind, fact.key)
        writes = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._fact_item(member_id, sort_key, fact.kind, json_body(fact)),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": keys.PK},
                }
            },
            self._nudge(member_id, credential, due),
        ]
        reversal_key = fact.reversal_key if isinstance(fact, ReversalWithdrawn) else fact.key
        claims = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _key(keys.member_pk(member_id), claim_sk(str(number))),
                    "UpdateExpression": f"{'DELETE' if isinstance(fact, ReversalWithdrawn) else 'ADD'} #rev :rev",
                    "ConditionExpression": "#paid_by = :me",
                    "ExpressionAttributeNames": {"#rev": "reversals", "#paid_by": "paid_by"},
                    "ExpressionAttributeValues": {
                        ":rev": {"SS": [reversal_key]},
                        ":me": {"S": payment_fact_key(pointer)},
                    },
                }
            }
            for number in pointer.get("invoices") or ()
        ]
        try:
            self.client.transact_write_items(TransactItems=writes + claims)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = _cancel_reasons(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if "ConditionalCheckFailed" not in reasons[len(writes) :]:
                raise Retry(str(reasons)) from error
            # An invoice's claim has passed to a later payment (made while this one was reversed):
            # the claims are that payment's now. Rare, so it may cost a third request.
            return self.reverse(member_id, credential, fact, due, {**pointer, "invoices": None})
        return True

    def hold_reversal(self, payment_key: str, fact: ReversalFact, seen: LedgerView, today: date) -> bool:
        """Keep a reversal whose payment is not credited yet (PENDING), on condition that the payment
        is still not credited and nobody changed PENDING since ``seen``. False if already held."""
        sort_key = keys.fact_sk(fact.kind, fact.key)
        facts = seen.pending_facts
        if sort_key in facts:
            return False
        facts[sort_key] = json_body(fact)
        pk = paykey_pk(payment_key)
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": to_item(
                {
                    keys.PK: pk,
                    keys.SK: PENDING_SK,
                    "facts": facts,
                    "token": uuid.uuid4().hex,
                    "payment_key": payment_key,
                    "received_on": today.isoformat(),
                    keys.LIST_PK: PARKED_LIST,
                    keys.LIST_SK: f"{NO_MEMBER}#{payment_key}",
                }
            ),
        }
        if seen.pending is None:
            put["ConditionExpression"] = "attribute_not_exists(#pk)"
            put["ExpressionAttributeNames"] = {"#pk": keys.PK}
        else:
            put["ConditionExpression"] = "#token = :token"
            put["ExpressionAttributeNames"] = {"#token": "token"}
            put["ExpressionAttributeValues"] = {":token": {"S": str(seen.pending["token"])}}
        try:
            self.client.transact_write_items(TransactItems=[self._absent(pk, POINTER_SK), {"Put": put}])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise Retry(str(_cancel_reasons(error))) from error
        return True

    def _listed_item(self, parked: ParkedPayment, sort_key: str, list_pk: str) -> dict[str, Any]:
        return to_item(
            {
                keys.PK: paykey_pk(parked.payment_key),
                keys.SK: sort_key,
                keys.LIST_PK: list_pk,
                keys.LIST_SK: f"{parked.member_id}#{parked.payment_key}",
                "payment_key": parked.payment_key,
                "member_id": parked.member_id,
                "credential": parked.credential,
                "reason": parked.reason,
                "received_on": parked.received_on.isoformat(),
                "body": parked.body,
            }
        )

    def park(self, parked: ParkedPayment) -> bool:
        """Store a payment we cannot credit yet; False if it is already parked."""
        item = self._listed_item(parked, PARKED_SK, PARKED_LIST)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PK},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # ------------------------------------------------------------------ listings

    def record_exception(
        self, exception: ParkedPayment, event: dict[str, Any] | None = None, *, was_parked: bool = False
    ) -> bool:
        """Hold a payment for staff (``EXCEPTION``, listed) and put its timeline ``event`` item in the
        same transaction (a parked payment the roster just brought its member to: also delete the
        ``PARKED`` item); False if it is already held."""
        item = self._listed_item(exception, EXCEPTION_SK, EXCEPTION_LIST)
        put = {
            "TableName": self.table_name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": keys.PK},
        }
        writes = [{"Put": put}] + ([{"Put": {"TableName": self.table_name, "Item": event}}] if event else [])
        if was_parked:
            parked_key = _key(paykey_pk(exception.payment_key), PARKED_SK)
            writes.append({"Delete": {"TableName": self.table_name, "Key": parked_key}})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            if _cancel_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise Retry(str(_cancel_reasons(error))) from error
        return True

    def resolution_writes(
        self, payment_key: str, resolution: dict[str, Any], event: dict[str, Any]
    ) -> tuple[dict[str, Any], ...]:
        """Writes that close the exception held under ``payment_key`` (it leaves the listing; the
        condition fails if it is gone or already resolved) and put its timeline event."""
        update = {
            "TableName": self.table_name,
            "Key": _key(paykey_pk(payment_key), EXCEPTION_SK),
            "UpdateExpression": "SET #res = :res REMOVE #lpk, #lsk",
            "ConditionExpression": "attribute_exists(#pk) AND attribute_not_exists(#res)",
            "ExpressionAttributeNames": {
                "#res": "resolution",
                "#lpk": keys.LIST_PK,
                "#lsk": keys.LIST_SK,
                "#pk": keys.PK,
            },
            "ExpressionAttributeValues": to_item({":res": resolution}),
        }
        return {"Update": update}, {"Put": {"TableName": self.table_name, "Item": event}}

    def write(self, writes: tuple[dict[str, Any], ...]) -> None:
        """One transaction; raises ``Retry`` when a condition failed."""
        try:
            self.client.transact_write_items(TransactItems=list(writes))
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise Retry(str(_cancel_reasons(error))) from error

    # ------------------------------------------------------------------ listings

    def parked(self, member_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Parked payments and reversals awaiting their payment (all, or one member's), paginated."""
        return self._listing(PARKED_LIST, member_id)

    def parked_member_ids(self) -> set[str]:
        """The members some parked payment waits for: the whole ``PARKED_PAYMENT`` listing, member ids
        only (one Query per 1 MB page; a bulk roster import asks once per chunk instead of once per
        member)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="#lpk = :lpk",
            ProjectionExpression="member_id",
            ExpressionAttributeNames={"#lpk": keys.LIST_PK},
            ExpressionAttributeValues=to_item({":lpk": PARKED_LIST}),
        )
        return {
            str(from_item(raw)["member_id"]) for page in pages for raw in page["Items"] if "member_id" in raw
        }

    def exceptions(self) -> Iterator[dict[str, Any]]:
        """Payment exceptions not resolved yet, paginated."""
        return self._listing(EXCEPTION_LIST, None)

    def _listing(self, list_pk: str, member_id: str | None) -> Iterator[dict[str, Any]]:
        condition = "#lpk = :lpk"
        values: dict[str, Any] = {":lpk": list_pk}
        if member_id is not None:
            condition += " AND begins_with(#lsk, :prefix)"
            values[":prefix"] = f"{member_id}#"
        names = {"#lpk": keys.LIST_PK, **({"#lsk": keys.LIST_SK} if member_id is not None else {})}
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )
        for page in pages:
            for raw in page["Items"]:
                yield from_item(raw)
