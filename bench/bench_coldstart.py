"""Cold start: for each handler of template.yaml, the import+init time in a fresh interpreter, divided
by the time of ``import boto3; boto3.client("dynamodb")`` in a fresh interpreter of the same run
(target <= 1.3x), plus the top import costs (``python -X importtime``) of the slowest handler.

"init" is what a cold start does before the first request: import the handler module (module-level
setup included) and validate the settings (``get_settings()``). Each interpreter runs in the
environment the Lambda runtime gives a function of template.yaml: ``LAMBDA_TASK_ROOT`` and
``AWS_LAMBDA_FUNCTION_NAME`` set and tracing on (``Tracing: Active``), so the X-Ray SDK takes the path
it takes in Lambda (outside Lambda it builds two botocore X-Ray clients at import, which a function
never does).

The time is the interpreter's CPU time (``time.process_time``), not the wall clock: importing is
CPU-bound once the files are in the page cache, and on a machine shared with other work the wall
clock mostly measures the neighbours. Each figure is the median of RUNS interleaved runs; the ratio
is what to compare across machines, the milliseconds are this machine's.

Run: ``.venv/bin/python bench/bench_coldstart.py`` (or ``make bench``); merges ``cold_start`` into
bench/results.json. ``--only XapiFunction,ConsoleFunction`` measures those handlers (and the baseline,
same run) and only prints: a partial run never replaces the full run's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.counting import RESULTS, merge_results  # noqa: E402
from local import template as tpl  # noqa: E402

RUNS = 7
TARGET = 1.3
ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in ("POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL")
} | {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "StayCertBench",
    "BUCKET_NAME": "staycert-bench",
    "POWERTOOLS_SERVICE_NAME": "staycert",
    # what the Lambda runtime sets (tracing stays on, as Tracing: Active deploys it)
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "staycert-bench",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "",
}

BASELINE = 'import boto3; boto3.client("dynamodb", region_name="us-east-1")'


def _handler_code(module: str, attribute: str) -> str:
    return (
        f"import {module} as m; getattr(m, {attribute!r}); "
        "from shared.config.settings import get_settings; get_settings()"
    )


def _timed(code: str) -> float:
    """CPU seconds the code takes in a fresh interpreter (measured inside it, start-up excluded)."""
    wrapper = f"import time; _t = time.process_time()\n{code}\nprint(time.process_time() - _t)"
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", wrapper], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _top_imports(code: str, top: int = 12) -> list[dict[str, Any]]:
    """Cumulative microseconds per top-level package from ``-X importtime`` (largest first)."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw_name = line[len("import time:") :].split("|")
        name = raw_name[1:]  # one space after the bar; then two per nesting level
        depth = (len(name) - len(name.lstrip(" "))) // 2
        if depth <= 1:  # what the handler imports, and what those import directly
            rows.append((int(cumulative), depth, name.strip()))
    rows.sort(reverse=True)
    return [
        {"module": name, "depth": depth, "cumulative_ms": round(us / 1000, 1)}
        for us, depth, name in rows[:top]
    ]


def _previous() -> dict[str, Any]:
    """The last run's per-handler figures, kept beside the new ones as the before of a change."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    last = results.get("cold_start", {})
    return {
        name: entry["ratio"]
        for name, entry in last.get("per_handler", {}).items()
        if last.get("target_ratio") == TARGET  # measured the same way (an older run used another method)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold start per handler over bare boto3.")
    parser.add_argument("--only", default="", help="comma-separated logical ids; prints, merges nothing")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"interleaved runs (default {RUNS})")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name}
    before = _previous()
    handlers = {
        fn.logical_id: (fn.module, fn.attribute)
        for fn in tpl.functions().values()
        if not only or fn.logical_id in only
    }
    if only - handlers.keys():
        parser.error(f"not a function of template.yaml: {sorted(only - handlers.keys())}")
    baseline: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in handlers}
    for _ in range(args.runs):  # interleaved, so drift on a noisy machine hits both sides alike
        baseline.append(_timed(BASELINE))
        for name, (module, attribute) in handlers.items():
            samples[name].append(_timed(_handler_code(module, attribute)))
    base = statistics.median(baseline)
    per_handler = {
        name: {
            "module": handlers[name][0],
            "init_ms": round(statistics.median(times) * 1000, 1),
            "ratio": round(statistics.median(times) / base, 2),
            "previous_ratio": before.get(name),
        }
        for name, times in samples.items()
    }
    worst = max(per_handler, key=lambda name: per_handler[name]["ratio"])
    figures = {
        "baseline": BASELINE,
        "baseline_ms": round(base * 1000, 1),
        "runs": args.runs,
        "per_handler": per_handler,
        "worst_handler": worst,
        "worst_ratio": per_handler[worst]["ratio"],
        "target_ratio": TARGET,
        "meets_target": per_handler[worst]["ratio"] <= TARGET,
        "top_imports_of_worst": _top_imports(_handler_code(*handlers[worst])),
        "top_imports_of_baseline": _top_imports(BASELINE, top=5),
    }
    if not only:
        merge_results({"cold_start": figures})
    print(f"baseline {figures['baseline_ms']} ms")
    for name, entry in per_handler.items():
        previous = "" if entry["previous_ratio"] is None else f"  (previous run {entry['previous_ratio']}x)"
        print(f"{name:34} {entry['init_ms']:8} ms  {entry['ratio']:5}x{previous}")
    print(f"worst {worst} {figures['worst_ratio']}x, target <= {TARGET}x; its top imports (ms):")
    for row in figures["top_imports_of_worst"]:
        print(f"  {'  ' * row['depth']}{row['module']:60} {row['cumulative_ms']:8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
