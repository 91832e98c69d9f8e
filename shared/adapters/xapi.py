"""xAPI 1.0.3 / cmi5: the statement models we accept, their validation, and LMS client credentials.

Only what crediting needs is modelled strictly (id, actor identifier, verb, object, timestamp,
``context.contextActivities``); other xAPI properties (``result``, ``authority``, ...) are accepted
as they come. Validation errors name the statement index and the field (``statements[2].actor``).
One concept, the LMS request as it reaches us (its statements and who sent it), hence one module
over 300 lines; how two statements compare, and ids for statements without one, are in
``xapi_canonical``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.adapters.secrets import get_json_secret
from shared.adapters.xapi_canonical import as_list, assigned_id, content_hash
from shared.rules.ids import Iri

VERB_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERB_PASSED = "http://adlnet.gov/expapi/verbs/passed"
VERB_SATISFIED = "https://w3id.org/xapi/adl/verbs/satisfied"
VERB_VOIDED = "http://adlnet.gov/expapi/verbs/voided"
CREDIT_VERBS = frozenset({VERB_COMPLETED, VERB_PASSED, VERB_SATISFIED})
TYPE_COURSE = frozenset(
    {"https://w3id.org/xapi/cmi5/activitytype/course", "http://adlnet.gov/expapi/activities/course"}
)
TYPE_BLOCK = "https://w3id.org/xapi/cmi5/activitytype/block"
# Far deeper than any statement an LMS or LRS sends; deeper ones could not be kept for staff (the
# serializer and DynamoDB stop earlier), so they are refused with the statement's path.
MAX_NESTING = 64
SUPPORTED_VERSION = re.compile(r"^1\.0(\.\d+)?$")
RESPONSE_VERSION = "1.0.3"

_MAILTO = re.compile(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="allow", populate_by_name=True)


class Account(_Model):
    home_page: Iri = Field(alias="homePage")
    name: str = Field(min_length=1, max_length=256)


class Agent(_Model):
    """An Agent (or identified Group) with exactly one inverse functional identifier, or an
    anonymous Group (its ``member`` list, no identifier)."""

    object_type: Literal["Agent", "Group"] = Field(default="Agent", alias="objectType")
    name: str | None = None
    mbox: str | None = None
    mbox_sha1sum: str | None = None
    openid: Iri | None = None
    account: Account | None = None

    @field_validator("mbox")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        if value is not None and not _MAILTO.fullmatch(value):
            raise ValueError("mbox must be a mailto: IRI")
        return value

    @field_validator("mbox_sha1sum")
    @classmethod
    def _sha1(cls, value: str | None) -> str | None:
        if value is not None and not _SHA1.fullmatch(value):
            raise ValueError("mbox_sha1sum must be 40 hex digits")
        return value

    @model_validator(mode="after")
    def _one_identifier(self) -> Agent:
        found = [n for n in ("mbox", "mbox_sha1sum", "openid", "account") if getattr(self, n) is not None]
        if (
            not found
            and self.object_type == "Group"
            and isinstance((self.model_extra or {}).get("member"), list)
        ):
            return self  # an anonymous Group: identified by its members (valid, never a member of ours)
        if len(found) != 1:
            raise ValueError(
                "actor needs exactly one identifier among mbox, mbox_sha1sum, openid, account"
                f" (found {len(found)}: {', '.join(found) or 'none'})"
            )
        return self

    @property
    def email(self) -> str | None:
        return self.mbox.removeprefix("mailto:").strip().lower() if self.mbox else None


class Verb(_Model):
    id: Iri
    display: dict[str, str] | None = None


class ActivityDefinition(_Model):
    type: Iri | None = None
    name: dict[str, str] | None = None


class Activity(_Model):
    object_type: Literal["Activity"] = Field(default="Activity", alias="objectType")
    id: Iri
    definition: ActivityDefinition | None = None

    @property
    def type(self) -> str | None:
        return self.definition.type if self.definition else None

    @property
    def title(self) -> str | None:
        names = self.definition.name if self.definition and self.definition.name else {}
        return names.get("en-US") or next(iter(names.values()), None)


class StatementRef(_Model):
    object_type: Literal["StatementRef"] = Field(alias="objectType")
    id: UUID


class OtherObject(_Model):
    """Agents, Groups and SubStatements as objects: valid, never credited."""

    object_type: Literal["Agent", "Group", "SubStatement"] = Field(alias="objectType")


ActivityList = Annotated[list[Activity], Field(max_length=100)]


def _object_kind(value: Any) -> str:
    """Which object model validates a statement's object (errors then name only that one)."""
    kind = (
        value.get("objectType", "Activity") if isinstance(value, dict) else getattr(value, "object_type", "")
    )
    if not isinstance(kind, str):  # {"objectType": {}}: the "other" model names the field
        kind = ""
    return {"Activity": "activity", "StatementRef": "statement_ref"}.get(kind, "other")


class ContextActivities(_Model):
    parent: ActivityList = Field(default_factory=list)
    grouping: ActivityList = Field(default_factory=list)
    category: ActivityList = Field(default_factory=list)
    other: ActivityList = Field(default_factory=list)

    @field_validator("parent", "grouping", "category", "other", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return as_list(value)


class Context(_Model):
    registration: UUID | None = None
    context_activities: ContextActivities | None = Field(default=None, alias="contextActivities")


class Statement(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)

    id: UUID
    actor: Agent
    verb: Verb
    object: Annotated[
        Annotated[Activity, Tag("activity")]
        | Annotated[StatementRef, Tag("statement_ref")]
        | Annotated[OtherObject, Tag("other")],
        Discriminator(_object_kind),
    ]
    timestamp: datetime | None = None
    context: Context | None = None
    result: dict[str, Any] | None = None
    stored: datetime | None = None
    authority: dict[str, Any] | None = None
    version: str | None = None
    attachments: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _voiding(self) -> Statement:
        if self.verb.id == VERB_VOIDED and not isinstance(self.object, StatementRef):
            raise ValueError("a voided statement's object must be a StatementRef")
        return self

    @property
    def statement_id(self) -> str:
        return str(self.id)

    @property
    def moment(self) -> datetime | None:
        if self.timestamp is None:
            return None
        return self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)

    @property
    def registration(self) -> str | None:
        """The attempt (cmi5: the enrolment) this statement belongs to, when it says."""
        found = self.context.registration if self.context else None
        return str(found) if found else None

    @property
    def grouping(self) -> list[Activity]:
        if self.context is None or self.context.context_activities is None:
            return []
        return list(self.context.context_activities.grouping)


class StatementProblem(Exception):
    """A request that cannot be accepted: ``problems`` name ``statements[i].field`` and the reason."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['reason']}" for p in problems))
        self.problems = problems


def _path(index: int, location: Sequence[int | str]) -> str:
    path = f"statements[{index}]"
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("activity", "statement_ref", "other") or "[" in str(part):
            continue  # union branch names are not fields
        else:
            path += f".{part}"
    return path


def _nesting(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (iterative: the depth is the caller's)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (inner, depth + 1) for inner in (current.values() if isinstance(current, dict) else current)
            )
    return deepest


def parse_statements(payload: Any, max_statements: int = 100) -> list[tuple[Statement, str]]:
    """(statement, content hash) for one statement or an array; all problems at once, or none."""
    raws = payload if isinstance(payload, list) else [payload]
    if not raws:
        raise StatementProblem([{"field": "statements", "reason": "at least one statement is required"}])
    if len(raws) > max_statements:
        raise StatementProblem(
            [{"field": "statements", "reason": f"at most {max_statements} statements per request"}]
        )
    problems: list[dict[str, str]] = []
    parsed: list[tuple[Statement, str]] = []
    seen: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            problems.append({"field": f"statements[{index}]", "reason": "must be a JSON object"})
            continue
        if _nesting(raw) > MAX_NESTING:
            reason = f"nested more than {MAX_NESTING} levels deep"
            problems.append({"field": f"statements[{index}]", "reason": reason})
            continue
        # A statement without id gets the one an LRS would assign (xAPI 1.0.3 §2.4.1).
        with_id = raw if "id" in raw else {**raw, "id": assigned_id(raw)}
        try:
            statement = Statement.model_validate(with_id)
        except ValidationError as error:
            for item in error.errors():
                loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
                problems.append({"field": _path(index, loc), "reason": item["msg"]})
            continue
        digest = content_hash(raw)
        earlier = seen.get(statement.statement_id)
        if earlier is not None and earlier[1] != digest:
            problems.append(
                {
                    "field": f"statements[{index}].id",
                    "reason": f"same id as statements[{earlier[0]}] with different content",
                }
            )
            continue
        seen.setdefault(statement.statement_id, (index, digest))
        parsed.append((statement, digest))
    if problems:
        raise StatementProblem(problems)
    return parsed


# ---------------------------------------------------------------------- LMS clients (Basic auth)


class LmsClient(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", populate_by_name=True)

    client_id: str
    home_page: str = Field(alias="homePage")
    passwords: tuple[str, ...]

    def owns(self, home_page: str) -> bool:
        return home_page.rstrip("/") == self.home_page.rstrip("/")


def _clients(document: dict[str, Any]) -> dict[str, LmsClient]:
    """``{"clients": {id: {"homePage": IRI, "passwords": {"current": .., "previous": ..}}}}``."""
    found: dict[str, LmsClient] = {}
    for client_id, entry in (document.get("clients") or {}).items():
        if not isinstance(entry, dict):
            continue
        secrets = entry.get("passwords") or {}
        values = [secrets.get("current"), secrets.get("previous")] if isinstance(secrets, dict) else []
        passwords = tuple(v for v in values if isinstance(v, str) and v)
        if passwords and isinstance(entry.get("homePage"), str):
            found[client_id] = LmsClient(
                client_id=client_id, home_page=entry["homePage"], passwords=passwords
            )
    return found


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


_DUMMY = "x" * 32


class LmsAuthenticator:
    """Verifies ``Authorization: Basic`` against the clients secret (current and previous password
    per client, constant-time). A miss on a cached secret forces a reload, so a freshly rotated
    password works without a cold start; the secrets adapter lets at most one forced reload per
    minute per secret reach Secrets Manager, so bad requests cannot hammer the API."""

    def __init__(self, secret_name: str) -> None:
        self.secret_name = secret_name

    def authenticate(self, header: str | None) -> LmsClient | None:
        credentials = _basic_credentials(header)
        if credentials is None:
            return None
        client = self._check(credentials, force=False)
        if client is None:
            client = self._check(credentials, force=True)  # throttled in get_json_secret
        return client

    def _check(self, credentials: tuple[str, str], *, force: bool) -> LmsClient | None:
        user, password = credentials
        clients = _clients(get_json_secret(self.secret_name, force=force))
        client = clients.get(user)
        candidates = client.passwords if client else (_DUMMY,)
        ok = False
        for candidate in candidates:  # compare against every value: no early exit
            ok |= hmac.compare_digest(candidate.encode("utf-8"), password.encode("utf-8"))
        return client if ok and client is not None else None
