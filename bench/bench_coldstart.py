"""Cold start: for each handler of template.yaml, the import+init time in a fresh interpreter, divided
by the time of ``import boto3; boto3.client("dynamodb")`` in a fresh interpreter of the same run
(target <= 1.5x), plus the top import costs (``python -X importtime``) of the slowest handler.

"init" is what a cold start does before the first request: import the handler module (module-level
setup included) and validate the settings (``get_settings()``). The ratio is noise-resistant; the
absolute milliseconds depend on the machine. Each figure is the median of RUNS interleaved runs.

Run: ``.venv/bin/python bench/bench_coldstart.py`` (or ``make bench``); merges ``cold_start`` into
bench/results.json.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.counting import merge_results  # noqa: E402
from local import template as tpl  # noqa: E402

RUNS = 3
TARGET = 1.5
ENV = os.environ | {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "StayCertBench",
    "BUCKET_NAME": "staycert-bench",
    "POWERTOOLS_SERVICE_NAME": "staycert",
    "POWERTOOLS_TRACE_DISABLED": "true",
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
    """Seconds the code takes in a fresh interpreter (measured inside it, start-up excluded)."""
    wrapper = f"import time; _t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
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


def main() -> int:
    handlers = {fn.logical_id: (fn.module, fn.attribute) for fn in tpl.functions().values()}
    baseline: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in handlers}
    for _ in range(RUNS):  # interleaved, so drift on a noisy machine hits both sides alike
        baseline.append(_timed(BASELINE))
        for name, (module, attribute) in handlers.items():
            samples[name].append(_timed(_handler_code(module, attribute)))
    base = statistics.median(baseline)
    per_handler = {
        name: {
            "module": handlers[name][0],
            "init_ms": round(statistics.median(times) * 1000, 1),
            "ratio": round(statistics.median(times) / base, 2),
        }
        for name, times in samples.items()
    }
    worst = max(per_handler, key=lambda name: per_handler[name]["ratio"])
    figures = {
        "baseline": BASELINE,
        "baseline_ms": round(base * 1000, 1),
        "runs": RUNS,
        "per_handler": per_handler,
        "worst_handler": worst,
        "worst_ratio": per_handler[worst]["ratio"],
        "target_ratio": TARGET,
        "meets_target": per_handler[worst]["ratio"] <= TARGET,
        "top_imports_of_worst": _top_imports(_handler_code(*handlers[worst])),
        "top_imports_of_baseline": _top_imports(BASELINE, top=5),
    }
    merge_results({"cold_start": figures})
    print(f"baseline {figures['baseline_ms']} ms")
    for name, entry in per_handler.items():
        print(f"{name:34} {entry['init_ms']:8} ms  {entry['ratio']:5}x")
    print("top imports of", worst, figures["top_imports_of_worst"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
