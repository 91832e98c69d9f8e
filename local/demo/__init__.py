"""``make demo``: a scripted multi-year lifecycle played over HTTP against the local stack.

Each chapter is a module of this package with ``play(demo)``; CHAPTERS lists them in order. The
clock moves only through ``demo.daily(date)`` (the local stack's POST /_local/daily).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

# Self-reported CE first: it is played in early 2021, while its member's cycles still contain 2020.
# Then the roster, payments, CE and recertification (a lapsed member recertifies by exam, another lapses
# after a failed audit), and invoices with a payment link last. Each chapter dates itself after the
# previous one (the scheduler ignores runs dated before its last run).
CHAPTERS = [
    "local.demo.self_report",
    "local.demo.roster",
    "local.demo.payments",
    "local.demo.ce",
    "local.demo.recert",
    "local.demo.invoices",
]


@dataclass
class Demo:
    """The demo's HTTP client, with a printer for status tables and timelines."""

    base_url: str
    stripe_url: str = ""  # the local stack's fake Stripe (its control API: the member pays)
    session: requests.Session = field(default_factory=requests.Session)
    today: str = ""

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)
        wanted = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in wanted:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def daily(self, day: str) -> dict[str, Any]:
        self.today = day
        result: dict[str, Any] = self.call("POST", "/_local/daily", json={"date": day})
        return result

    def heading(self, text: str) -> None:
        print(f"\n=== {text} ===")

    def say(self, text: str) -> None:
        print(f"  {text}")

    def status_table(self, member_ids: list[str]) -> None:
        print(
            f"  {'as of':<11} {'member':<8} {'cred':<5} {'status':<11} {'paid through':<13} {'CCP':<9} reasons"
        )
        for member_id in member_ids:
            status = self.call("GET", f"/members/{member_id}/status")
            for cert in status["certifications"]:
                ccp = f"{cert['ccp']['earned']}/{cert['ccp']['required']}"
                reasons = ", ".join(cert["reasons"]) or "-"
                if cert["lapsed_on"]:
                    reasons += f" (lapsed {cert['lapsed_on']}; may recertify by {'/'.join(cert['recertification']['allowed_methods'])})"
                print(
                    f"  {status['as_of']:<11} {member_id:<8} {cert['credential']:<5} {cert['status']:<11} "
                    f"{cert['fees']['paid_through']:<13} {ccp:<9} {reasons}"
                )

    def timeline(self, member_id: str) -> None:
        print(f"  timeline of {member_id}:")
        for entry in self.call("GET", f"/members/{member_id}/timeline")["entries"]:
            print(f"    {entry['on']}  {entry['kind']:<18} {entry['summary']}")


def run_demo(port: int = 0, keep: bool = False) -> int:
    from local.stack import LocalStack

    log_level = os.environ.get("STAYCERT_DEMO_LOG_LEVEL", "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with LocalStack(port=port, env_overrides={"POWERTOOLS_LOG_LEVEL": log_level}) as stack:
        print(f"Local stack up at {stack.url} (moto at {stack.endpoint_url}).")
        print(f"Staff console: {stack.url}/console/ (no sign-in locally).")
        demo = Demo(stack.url, stripe_url=stack.fake_stripe.url)
        for chapter in CHAPTERS:
            importlib.import_module(chapter).play(demo)
        print(f"\nStaff console of this story: {stack.url}/console/ (search dana, omar or gil).")
        if keep:
            print("Kept running (--keep); Ctrl-C stops it.")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        else:
            print("The stack stops now: `staycert demo --keep` keeps it up to browse the console.")
    print("\nDemo complete.")
    return 0
