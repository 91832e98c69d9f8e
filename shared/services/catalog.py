"""CE activity catalog use cases: upsert/read by staff, lookups for crediting and status, and the
admin listings (unmapped activities, unmatched statements, quarantined uploads)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import NotFound
from shared.rules.ids import Iri
from shared.rules.models import ActivitySpec
from shared.rules.policy import Category
from shared.store.catalog import (
    QUARANTINE_LIST,
    UNMAPPED_LIST,
    UNMATCHED_LIST,
    CatalogRepository,
    ListedItems,
)

CACHE_SECONDS = 60.0  # a catalog change reaches warm ingest functions within this time


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ActivityUpsert(_Strict):
    """Body of ``PUT /catalog/activities``."""

    activity_id: Iri
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    category: Category
    points: Decimal = Field(gt=0, le=100, decimal_places=2)
    provider_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class UnmappedActivity(_Strict):
    activity_id: str
    completions: int = Field(
        description="Members who completed it: a course counts once per member, however many of"
        " their statements (a cmi5 sequence, a corrected resend) carried the completion"
    )
    members: list[str]
    first_completed_on: date


class UnmappedActivities(_Strict):
    activities: list[UnmappedActivity]


class Listing(_Strict):
    items: list[dict[str, Any]]
    next_token: str | None = None


class CatalogCache:
    """Process-wide lookups with a short TTL (hits and misses), so a statement usually costs no
    catalog read; a miss costs one BatchGetItem for every id a request needs."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, ActivitySpec | None]] = {}

    def get_many(self, repository: CatalogRepository, ids: Iterable[str]) -> dict[str, ActivitySpec]:
        now = self.clock()
        wanted = set(ids)
        missing = {i for i in wanted if i not in self._entries or now - self._entries[i][0] > self.ttl}
        if missing:
            found = repository.get_activities(missing)
            for activity_id in missing:
                self._entries[activity_id] = (now, found.get(activity_id))
        return {i: spec for i in wanted if (spec := self._entries[i][1]) is not None}

    def forget(self, activity_id: str | None = None) -> None:
        if activity_id is None:
            self._entries.clear()
        else:
            self._entries.pop(activity_id, None)


CACHE = CatalogCache()


class CatalogService:
    def __init__(self, repository: CatalogRepository) -> None:
        self.repository = repository

    def upsert(self, request: ActivityUpsert, today: date) -> bool:
        spec = ActivitySpec(
            activity_id=request.activity_id,
            title=request.title,
            category=request.category,
            points=request.points,
            provider_id=request.provider_id,
        )
        created = self.repository.put_activity(spec, today)
        CACHE.forget(spec.activity_id)
        return created

    def get(self, activity_id: str) -> ActivitySpec:
        spec = self.repository.get_activity(activity_id)
        if spec is None:
            raise NotFound(f"activity {activity_id!r} is not in the catalog")
        return spec

    def lookup(self, ids: set[str]) -> Mapping[str, ActivitySpec]:
        """For ``MemberService(catalog=...)``: one BatchGetItem per 100 unmapped activity ids."""
        return self.repository.get_activities(ids)

    def unmapped(self) -> UnmappedActivities:
        """Activities completed but not (yet) in the catalog, with who completed them. Entries whose
        activity has since been added are left out (they count now)."""
        by_activity: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in self.repository.iter_listing(UNMAPPED_LIST):
            body = item.get("body") or {}
            if "activity_id" in body:
                by_activity[body["activity_id"]].append({**body, "member_id": item.get("member_id")})
        mapped = self.repository.get_activities(by_activity)
        activities = [
            _unmapped_activity(activity_id, entries)
            for activity_id, entries in sorted(by_activity.items())
            if activity_id not in mapped
        ]
        return UnmappedActivities(activities=activities)

    def unmatched_statements(self, limit: int = 100, token: str | None = None) -> Listing:
        return _listing(self.repository.listing(UNMATCHED_LIST, limit, token))

    def quarantined(self, limit: int = 100, token: str | None = None) -> Listing:
        return _listing(self.repository.listing(QUARANTINE_LIST, limit, token))


def _listing(page: ListedItems) -> Listing:
    return Listing(items=[item.get("body") or {} for item in page.items], next_token=page.next_token)


def _unmapped_activity(activity_id: str, entries: list[dict[str, Any]]) -> UnmappedActivity:
    members = sorted({str(e["member_id"]) for e in entries if e.get("member_id")})
    return UnmappedActivity(
        activity_id=activity_id,
        completions=len(members),
        members=members,
        first_completed_on=min(date.fromisoformat(str(e["completed_on"])) for e in entries),
    )
