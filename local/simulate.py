# ruff: noqa: S311 - seeded pseudo-random numbers are the point: a simulation must be reproducible
"""``staycert simulate``: a policy simulation for the certification board.

A seeded synthetic population (certification dates spread over past years, payment punctuality, CE
habits, late reporting) is run month by month through the REAL rules core: ``shared.rules.status.
evaluate`` at every month end for every member, ``shared.rules.schedule.notices_due`` for the notices,
and ``shared.rules.audit.draw`` (the daily run's seeded draw) each year on the audit draw date.

It runs the rules core directly, not the daily job over moto: moto answers a 10,000-member year in
tens of minutes, the rules core in seconds. What differs from the deployed daily run: status and
notices are sampled at month ends (a notice is counted in the month it falls due, from the month-end
status), and facts arrive on their recorded dates with no webhook/ingest path in between.

Behaviour (per member, seeded): payment punctuality (on time / late / stops paying after some years),
CE habits (steady / crams at the end of the cycle and reports late / short of points), lapsed members
recertifying by CCP after a while, audit answers (passed, failed when short of points, or no answer
before the deadline). Knobs the board cares about: ``--late-reporting-days`` (R5) and
``--audit-rate``.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shared.rules import audit
from shared.rules.dates import add_years, last_of_month
from shared.rules.fees import fee_due_month
from shared.rules.models import (
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    Certification,
    CertificationStatus,
    Fact,
    FeePayment,
    Recertified,
    RecertMethod,
    Standing,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.schedule import next_action_date, notices_due
from shared.rules.status import evaluate

COLUMNS = ("active", "delinquent", "lapsed", "newly_lapsed", "recertified", "notices", "audits_drawn")
CREDENTIALS = ("RMA", "RPT", "AHI", "CMAS", "RDA")
HISTORY_YEARS = 9  # certification dates spread over this many years before the start


@dataclass
class Habits:
    pay: str  # on_time | late | stops
    stop_after: int  # "stops": the last fee number paid
    ce: str  # steady | crammer | short
    recert_chance: float


@dataclass
class SimMember:
    member_id: str
    cert: Certification
    habits: Habits
    seed: int
    start: date  # the effective certification date (original, or the last recertification)
    facts: list[Fact] = field(default_factory=list)
    plan: list[Fact] = field(default_factory=list)  # future facts, by recorded_on
    lapsed_since: date | None = None
    recert_on: date | None = None
    notices_sent: set[tuple[str, str]] = field(default_factory=set)
    recertifications: int = 0
    status: CertificationStatus | None = None  # as of the last evaluation
    next_check: date | None = None  # next_action_date after the last evaluation


@dataclass
class SimParams:
    members: int
    years: int
    seed: int = 1
    start: date = date(2026, 1, 1)
    late_share: float = 0.2
    stop_share: float = 0.08
    crammer_share: float = 0.25
    short_share: float = 0.1
    recert_chance: float = 0.35


def month_ends(start: date, years: int) -> list[date]:
    ends, day = [], start
    for _ in range(years * 12):
        ends.append(last_of_month(day))
        day = last_of_month(day) + timedelta(days=1)
    return ends


def population(params: SimParams, policy: RulesPolicy) -> list[SimMember]:
    rng = random.Random(params.seed)
    members = []
    for n in range(params.members):
        certified = params.start - timedelta(days=rng.randrange(1, 365 * HISTORY_YEARS))
        roll = rng.random()
        pay = (
            "stops"
            if roll < params.stop_share
            else ("late" if roll < params.stop_share + params.late_share else "on_time")
        )
        roll = rng.random()
        ce = (
            "short"
            if roll < params.short_share
            else ("crammer" if roll < params.short_share + params.crammer_share else "steady")
        )
        habits = Habits(pay=pay, stop_after=rng.randrange(1, 8), ce=ce, recert_chance=params.recert_chance)
        credential = CREDENTIALS[n % len(CREDENTIALS)]
        member = SimMember(
            member_id=f"m{n:06d}",
            cert=Certification(credential=credential, certified_on=certified),
            habits=habits,
            seed=rng.randrange(2**31),
            start=certified,
        )
        member.plan = plan_facts(member, certified, policy, params.start + timedelta(days=366 * params.years))
        members.append(member)
    return members


def plan_facts(member: SimMember, start: date, policy: RulesPolicy, until: date) -> list[Fact]:
    """The member's payments and CE completions from ``start`` (an effective certification date)
    through ``until``, following its habits."""
    rng = random.Random(f"{member.seed}-{start.isoformat()}")
    facts: list[Fact] = []
    credential = member.cert.credential
    spec = policy.credential(credential)
    n = 1
    while (due := fee_due_month(start, n)) <= until:
        if member.habits.pay != "stops" or n <= member.habits.stop_after:
            offset = -rng.randrange(0, 45) if member.habits.pay != "late" else rng.randrange(20, 240)
            if member.habits.pay == "on_time" and rng.random() < 0.05:
                offset = rng.randrange(10, 120)  # even punctual members are late sometimes
            paid = due + timedelta(days=offset)
            facts.append(
                FeePayment(
                    key=f"pi_{member.member_id}_{start:%Y%m%d}_{n}",
                    recorded_on=paid,
                    credential=credential,
                    purpose="annual_fee",
                    paid_on=paid,
                    amount_cents=spec.annual_fee_cents_on(due),  # the fee in force when it fell due
                )
            )
        n += 1
    required = policy.credential(credential).ccp_points
    k = 0
    while (cycle_start := add_years(start, policy.cycle_years * k)) <= until:
        cycle_end = add_years(start, policy.cycle_years * (k + 1)) - timedelta(days=1)
        count = math.ceil(required / 3) + 1
        if member.habits.ce == "short":
            count //= 2
        span = (cycle_end - cycle_start).days
        for i in range(count):
            if member.habits.ce == "crammer":
                done = cycle_end - timedelta(days=rng.randrange(0, 150))
                delay = rng.randrange(0, 150)
            else:
                done = cycle_start + timedelta(days=rng.randrange(0, span))
                delay = rng.randrange(0, 30)
            facts.append(
                CeCompletion(
                    key=f"ce_{member.member_id}_{start:%Y%m%d}_{k}_{i}",
                    recorded_on=done + timedelta(days=delay),
                    activity_id=f"https://courses.example.org/{k}/{i}",
                    completed_on=done,
                    points=Decimal(3),
                    category=Category.PROFESSIONAL_EDUCATION,
                    source="simulation",
                )
            )
        k += 1
    facts.sort(key=lambda fact: fact.recorded_on)
    return facts


class Shard:
    """A slice of the population, advanced month by month (in-process or in a worker process)."""

    def __init__(self, members: list[SimMember], policy: RulesPolicy, horizon: date) -> None:
        self.members = {member.member_id: member for member in members}
        self.policy = policy
        self.horizon = horizon

    def advance(self, month_end: date) -> Counter[str]:
        counts: Counter[str] = Counter()
        first = month_end.replace(day=1)
        for member in self.members.values():
            if member.recert_on is not None and member.recert_on <= month_end:
                self._recertify(member)
                counts["recertified"] += 1
                member.status = None
            while member.plan and member.plan[0].recorded_on <= month_end:
                member.facts.append(member.plan.pop(0))
                member.status = None
            if member.status is not None and (member.next_check is None or member.next_check > month_end):
                # No new fact and no action date this month: the daily run would not look at it either
                # (its DueIndex holds next_action_date), and no notice falls due.
                counts[member.status.status.value] += 1
                continue
            status = evaluate(member.cert, member.facts, month_end, self.policy)
            member.status = status
            member.next_check = next_action_date(status, member.facts, month_end, self.policy)
            counts[status.status.value] += 1
            if status.status is Standing.LAPSED:
                if member.lapsed_since is None:
                    self._lapse(member, month_end)
                    counts["newly_lapsed"] += 1
                    counts["notices"] += 1  # the lapse notice goes with the transition
                continue
            for notice in notices_due(
                status, month_end, self.policy, stale_days=(month_end - first).days + 1
            ):
                if (notice.kind, notice.period) not in member.notices_sent:
                    member.notices_sent.add((notice.kind, notice.period))
                    counts["notices"] += 1
        return counts

    def prime(self, day: date) -> None:
        """Before the first month: history up to ``day``; members already lapsed then are not counted
        as newly lapsed in the first month."""
        for member in self.members.values():
            while member.plan and member.plan[0].recorded_on <= day:
                member.facts.append(member.plan.pop(0))
            if evaluate(member.cert, member.facts, day, self.policy).status is Standing.LAPSED:
                self._lapse(member, day)

    def _lapse(self, member: SimMember, on: date) -> None:
        member.lapsed_since = on
        member.plan = []  # a lapsed member stops paying and reporting
        rng = random.Random(f"{member.seed}-lapse-{on.isoformat()}")
        if rng.random() < member.habits.recert_chance:
            member.recert_on = on + timedelta(days=rng.randrange(60, 540))

    def _recertify(self, member: SimMember) -> None:
        assert member.recert_on is not None
        on = member.recert_on
        member.recertifications += 1
        application = f"{member.member_id}.{member.cert.credential}.{member.recertifications}"
        member.facts.append(
            Recertified(
                key=application,
                recorded_on=on,
                credential=member.cert.credential,
                completed_on=on,
                method=RecertMethod.CCP,
                application_id=application,
            )
        )
        member.start, member.lapsed_since, member.recert_on = on, None, None
        member.plan = [f for f in plan_facts(member, on, self.policy, self.horizon) if f.recorded_on > on]

    def audit_pool(self, year: int) -> dict[str, tuple[date, date]]:
        """Not lapsed, with a CCP cycle that ended in ``year``: entry -> (cycle start, cycle end)."""
        pool = {}
        cycle = self.policy.cycle_years
        for member in self.members.values():
            if member.lapsed_since is not None:
                continue
            k = 1
            while (end := add_years(member.start, cycle * k) - timedelta(days=1)).year <= year:
                if end.year == year and end >= member.start:
                    pool[f"{member.member_id}#{member.cert.credential}"] = (
                        add_years(member.start, cycle * (k - 1)),
                        end,
                    )
                k += 1
        return pool

    def apply_draw(self, chosen: list[tuple[str, date, date]], year: int, drawn_on: date) -> int:
        deadline = audit.deadline(drawn_on, self.policy)
        drawn = 0
        for entry, cycle_start, cycle_end in chosen:
            member = self.members.get(entry.split("#", 1)[0])
            if member is None:
                continue  # another shard's member
            drawn += 1
            audit_id = audit.audit_id(year, member.member_id, member.cert.credential)
            member.facts.append(
                AuditDrawn(
                    key=audit_id,
                    recorded_on=drawn_on,
                    audit_id=audit_id,
                    credential=member.cert.credential,
                    cycle_start=cycle_start,
                    cycle_end=cycle_end,
                    drawn_on=drawn_on,
                    deadline=deadline,
                    seed=audit.audit_seed(year),
                )
            )
            member.status = None  # the audit deadline is a new action date
            rng = random.Random(f"{member.seed}-audit-{year}")
            if rng.random() < 0.08:
                continue  # no answer before the deadline: R7c lapses it the day after
            decided = drawn_on + timedelta(days=rng.randrange(5, 55))
            outcome = "failed" if member.habits.ce == "short" else "passed"
            member.plan.append(
                AuditDecided(
                    key=audit_id,
                    recorded_on=decided,
                    audit_id=audit_id,
                    credential=member.cert.credential,
                    outcome=outcome,
                    decided_on=decided,
                )
            )
            member.plan.sort(key=lambda fact: fact.recorded_on)
        return drawn

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self, method)(*args)


def _worker(connection: Any, members: list[SimMember], policy: RulesPolicy, horizon: date) -> None:
    shard = Shard(members, policy, horizon)
    while True:
        message = connection.recv()
        if isinstance(message, bool):  # close: send the members back, or not
            connection.send(list(shard.members.values()) if message else [])
            return
        connection.send(shard.call(*message))


class Shards:
    """The population split over worker processes (fork), or one in-process shard."""

    def __init__(self, members: list[SimMember], policy: RulesPolicy, horizon: date, workers: int) -> None:
        self.local: Shard | None = None
        self.pipes: list[Any] = []
        self.processes: list[Any] = []
        if workers <= 1:
            self.local = Shard(members, policy, horizon)
            return
        context = multiprocessing.get_context("fork")
        for index in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, members[index::workers], policy, horizon))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def call(self, method: str, *args: Any) -> list[Any]:
        if self.local is not None:
            return [self.local.call(method, *args)]
        for pipe in self.pipes:
            pipe.send((method, *args))
        return [pipe.recv() for pipe in self.pipes]

    def close(self, keep_members: bool = True) -> list[SimMember]:
        if self.local is not None:
            return list(self.local.members.values())
        members: list[SimMember] = []
        for pipe in self.pipes:
            pipe.send(keep_members)
            members.extend(pipe.recv())
        for process in self.processes:
            process.join()
        return members


@dataclass
class SimResult:
    params: SimParams
    months: list[date]
    rows: list[dict[str, int]]
    members: list[SimMember]


def simulate(
    params: SimParams,
    policy: RulesPolicy,
    workers: int = 1,
    progress: bool = False,
    keep_members: bool = True,
) -> SimResult:
    """Month by month over ``params.years``; ``keep_members`` returns the members with their facts
    (for checks: shipping 10,000 members back from the workers takes a while)."""
    members = population(params, policy)
    ends = month_ends(params.start, params.years)
    horizon = ends[-1] + timedelta(days=366)
    shards = Shards(members, policy, horizon, workers)
    rows: list[dict[str, int]] = []
    steps: Any = ends
    if progress:
        from tqdm import tqdm

        steps = tqdm(ends, desc="simulating", unit="month", file=sys.stderr)
    try:
        shards.call("prime", params.start - timedelta(days=1))
        for month_end in steps:
            drawn = 0
            draw_on = audit.draw_date(month_end.year, policy)
            if month_end.replace(day=1) <= draw_on <= month_end:
                pool: dict[str, tuple[date, date]] = {}
                for part in shards.call("audit_pool", month_end.year - 1):
                    pool.update(part)
                chosen = audit.draw(pool, policy.audit_rate, audit.audit_seed(month_end.year))
                selected = [(entry, *pool[entry]) for entry in chosen]
                drawn = sum(shards.call("apply_draw", selected, month_end.year, draw_on))
            counts: Counter[str] = Counter()
            for part in shards.call("advance", month_end):
                counts.update(part)
            counts["audits_drawn"] = drawn
            rows.append({column: counts.get(column, 0) for column in COLUMNS})
    finally:
        final = shards.close(keep_members)
    final.sort(key=lambda member: member.member_id)
    return SimResult(params=params, months=ends, rows=rows, members=final)


def table(result: SimResult) -> str:
    header = f"{'month':8}" + "".join(f"{column:>14}" for column in COLUMNS)
    lines = [header]
    for month_end, row in zip(result.months, result.rows, strict=True):
        lines.append(f"{month_end:%Y-%m}  " + "".join(f"{row[column]:>14}" for column in COLUMNS))
    return "\n".join(lines)


def chart(result: SimResult, path: str, policy: RulesPolicy) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = result.months
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True, height_ratios=(3, 2))
    for column, color in (("active", "tab:green"), ("delinquent", "tab:orange"), ("lapsed", "tab:red")):
        top.plot(months, [row[column] for row in result.rows], label=column, color=color, linewidth=2)
    top.set_ylabel("certifications at month end")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(
        f"Stay Certified policy simulation: {result.params.members:,} members, {result.params.years} years "
        f"(seed {result.params.seed}; late reporting {policy.late_reporting_days} days, "
        f"audit rate {policy.audit_rate:.0%})"
    )
    width = 20
    bottom.bar(
        months,
        [row["newly_lapsed"] for row in result.rows],
        width=width,
        label="newly lapsed",
        color="tab:red",
    )
    bottom.bar(
        months,
        [row["recertified"] for row in result.rows],
        width=width,
        bottom=[row["newly_lapsed"] for row in result.rows],
        label="recertified",
        color="tab:blue",
    )
    bottom.bar(
        months,
        [row["audits_drawn"] for row in result.rows],
        width=width,
        bottom=[row["newly_lapsed"] + row["recertified"] for row in result.rows],
        label="audits drawn",
        color="tab:purple",
    )
    bottom.set_ylabel("per month")
    notices = bottom.twinx()
    notices.plot(
        months, [row["notices"] for row in result.rows], color="tab:gray", linewidth=1, label="notices sent"
    )
    notices.set_ylabel("notices sent per month")
    handles, labels = bottom.get_legend_handles_labels()
    more_handles, more_labels = notices.get_legend_handles_labels()
    bottom.legend(handles + more_handles, labels + more_labels, loc="upper left", ncols=4)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    *,
    members: int,
    years: int,
    chart_path: str | None,
    seed: int,
    late_reporting_days: int | None,
    audit_rate: float | None,
    workers: int,
) -> int:
    import os
    import time

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from shared.config.settings import get_policy

    policy = get_policy()
    update: dict[str, Any] = {}
    if late_reporting_days is not None:
        update["late_reporting_days"] = late_reporting_days
    if audit_rate is not None:
        update["audit_rate"] = Decimal(str(audit_rate))
    policy = policy.model_copy(update=update)
    started = time.perf_counter()
    params = SimParams(members=members, years=years, seed=seed)
    result = simulate(params, policy, workers, progress=True, keep_members=False)
    print(table(result))
    totals = {column: sum(row[column] for row in result.rows) for column in COLUMNS[3:]}
    print(
        f"totals over {years} years: "
        + ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in totals.items())
        + f" ({time.perf_counter() - started:.0f} s, rules core in-process, {workers} worker(s))"
    )
    if chart_path:
        chart(result, chart_path, policy)
        print(f"chart: {chart_path}")
    return 0
