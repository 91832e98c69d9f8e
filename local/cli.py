"""``staycert`` console script: ``staycert up`` serves the local stack, ``staycert demo`` plays the
scripted lifecycle on it, ``staycert simulate`` runs a policy simulation, ``staycert ops`` holds the
on-call tools (redrive, replay-daily, inspect; docs/operations.md)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import date
from typing import Any


def _up(args: argparse.Namespace) -> int:
    from local.stack import LocalStack

    stack = LocalStack(port=args.port, credly_url=args.credly_url)
    stack.start()
    print(f"Stay Certified local stack on {stack.url} (AWS APIs: {stack.endpoint_url}); Ctrl-C stops it.")
    print("Local only: no IAM auth on any route; secrets hold the documented development defaults.")
    print(f"Staff console: {stack.url}/console/ (no sign-in locally).")
    if stack.fake_credly is not None:
        print(f"Fake Credly on {stack.credly_url} (organization local-org, token local-credly-token).")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from local.demo import run_demo

    return run_demo(port=args.port, keep=args.keep)


def _simulate(args: argparse.Namespace) -> int:
    from local.simulate import run

    return run(
        members=args.members,
        years=args.years,
        chart_path=args.chart,
        seed=args.seed,
        late_reporting_days=args.late_reporting_days,
        audit_rate=args.audit_rate,
        workers=args.workers,
    )


def _ops(args: argparse.Namespace) -> int:
    from local import ops

    target: ops.Target = ops.LocalTarget(args.local) if args.local else ops.AwsTarget(args.stack, args.region)
    if args.ops_command == "redrive":
        done = ops.redrive(target, args.queue, dry_run=args.dry_run, limit=args.limit)
        for item in done:
            print(f"{item.message_id}  {item.outcome}  {item.what}")
        redriven = sum(item.outcome == "redriven" for item in done)
        print(f"{len(done)} message(s) read from the {args.queue} queue, {redriven} redriven")
        return 0 if all(item.outcome in ("redriven", "would redrive") for item in done) else 1
    if args.ops_command == "backfill-index":
        print(f"{ops.backfill_recorded_index(target)} item(s) given their RecordedIndex key")
        return 0
    if args.ops_command == "replay-daily":
        print("replay is idempotent: notices and transitions already recorded are not recorded or sent again")
        for result in ops.replay_daily(target, args.from_, args.to):
            print(json.dumps(result, sort_keys=True))
        return 0
    status, timeline = ops.inspect_member(target, args.id)
    ops.print_lines(ops.format_member(status, timeline))
    return 0


def _add_ops(commands: Any) -> None:
    ops = commands.add_parser(
        "ops", help="on-call tools: redrive, replay-daily, inspect (docs/operations.md)"
    )
    where = ops.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="URL", help="the local stack's gateway, e.g. http://127.0.0.1:3000")
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed CloudFormation stack (default AWS credentials)"
    )
    ops.add_argument("--region", default=None, help="AWS region of --stack (default: the credential chain's)")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    redrive = ops_commands.add_parser(
        "redrive", help="re-drive a failure queue's records through their function"
    )
    redrive.add_argument("--queue", choices=["badge", "async"], required=True)
    redrive.add_argument("--dry-run", action="store_true", help="list what would be redriven; change nothing")
    redrive.add_argument("--limit", type=int, default=100, help="at most this many messages")
    replay = ops_commands.add_parser(
        "replay-daily", help="re-run the daily schedule for past dates (idempotent)"
    )
    replay.add_argument("--from", dest="from_", required=True, metavar="YYYY-MM-DD", type=date.fromisoformat)
    replay.add_argument("--to", required=True, metavar="YYYY-MM-DD", type=date.fromisoformat)
    ops_commands.add_parser(
        "backfill-index", help="migration: index items written before RecordedIndex (docs/data-model.md)"
    )
    inspect = ops_commands.add_parser("inspect", help="status and timeline of a member")
    inspect.add_argument("kind", choices=["member"])
    inspect.add_argument("id")
    ops.set_defaults(run=_ops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="staycert", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log the handlers' JSON lines")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="serve the local stack on loopback")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--credly-url", default=None, help="Credly API base URL (default: the local fake)")
    up.set_defaults(run=_up)
    demo = commands.add_parser("demo", help="play a scripted multi-year lifecycle on the local stack")
    demo.add_argument("--port", type=int, default=0)
    demo.add_argument(
        "--keep", action="store_true", help="keep the stack up after the story (browse it in the console)"
    )
    demo.set_defaults(run=_demo)
    sim = commands.add_parser("simulate", help="policy simulation of a synthetic population (rules core)")
    sim.add_argument("--members", type=int, default=10_000)
    sim.add_argument("--years", type=int, default=5)
    sim.add_argument("--chart", default=None, help="write a PNG chart here")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--late-reporting-days", type=int, default=None, help="R5 window (default: settings)")
    sim.add_argument("--audit-rate", type=float, default=None, help="audit draw rate (default: settings)")
    sim.add_argument("--workers", type=int, default=2, help="worker processes")
    sim.set_defaults(run=_simulate)
    _add_ops(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.verbose:
        import os

        os.environ["STAYCERT_DEMO_LOG_LEVEL"] = "INFO"
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
