"""template.yaml as an operations contract. The queues and functions come from the template itself
(so a queue or function added later must bring its alarms), the emitted metric names from the code
(every ``BusinessMetric.X`` in shared/ and functions/, found by scanning the source): every failure queue has a
depth and an oldest-message alarm, every function an errors and a throttles alarm, the daily-run
heartbeat alarm fires on missing data, every alarm notifies the topic and is on the dashboard, and
every metric the code emits is on the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local import template as tpl
from shared.observability import NAMESPACE, BusinessMetric

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "shared").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]
ACCOUNT_CONCURRENCY = 1000  # the default Lambda concurrency quota of an account and region
UNRESERVED_MINIMUM = 100  # Lambda keeps at least this much unreserved


def resources_of(kind: str) -> dict[str, Any]:
    return {name: r for name, r in tpl.resources().items() if r["Type"] == kind}


def alarms() -> dict[str, Any]:
    return {name: r["Properties"] for name, r in resources_of("AWS::CloudWatch::Alarm").items()}


def alarms_on(namespace: str, metric: str, dimension_value: Any) -> list[str]:
    return [
        name
        for name, props in alarms().items()
        if props.get("Namespace") == namespace
        and props.get("MetricName") == metric
        and dimension_value in [d["Value"] for d in props.get("Dimensions", [])]
    ]


def dashboard() -> dict[str, Any]:
    [board] = resources_of("AWS::CloudWatch::Dashboard").values()
    body = board["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${Logical.Attr} / ${Param} become "<Logical.Attr>" so the JSON parses and the references stay
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))
    return parsed


def dashboard_metric_names() -> set[str]:
    names: set[str] = set()
    for widget in dashboard()["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):  # a SEARCH expression
                names.update(re.findall(r'MetricName="([^"]+)"', metric[0]["expression"]))
            elif metric[0] == NAMESPACE:
                names.add(metric[1])
    return names


def emitted_metric_names() -> dict[str, list[str]]:
    """Every ``BusinessMetric.X`` deployed code names -> where. Emission goes only through
    ``record`` with a registry member (``test_metrics_are_only_emitted_through_the_registry``)."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for member in re.findall(r"\bBusinessMetric\.([A-Z_]+)", line):
                found.setdefault(BusinessMetric[member].value, []).append(
                    f"{path.relative_to(ROOT)}:{number}"
                )
    return found


def test_every_queue_has_a_depth_and_an_age_alarm() -> None:
    queues = resources_of("AWS::SQS::Queue")
    assert set(queues) >= {"BadgeDlq", "AsyncFailureQueue"}
    for queue in queues:
        name = {"Fn::GetAtt": [queue, "QueueName"]}
        [depth] = alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", name)
        assert (alarms()[depth]["Threshold"], alarms()[depth]["ComparisonOperator"]) == (
            0,
            "GreaterThanThreshold",
        )
        [age] = alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", name)
        assert 0 < alarms()[age]["Threshold"] <= 14 * 86400


def test_every_function_has_an_errors_and_a_throttles_alarm() -> None:
    functions = tpl.functions()
    assert len(functions) >= 9
    for logical_id in functions:
        for metric in ("Errors", "Throttles"):
            [name] = alarms_on("AWS/Lambda", metric, {"Ref": logical_id})
            assert alarms()[name]["Threshold"] == 0, name


def test_the_daily_heartbeat_alarm_fires_on_missing_data() -> None:
    [name] = alarms_on(NAMESPACE, BusinessMetric.DAILY_RUN_COMPLETED.value, "staycert")
    props = alarms()[name]
    assert props["TreatMissingData"] == "breaching"
    assert (props["ComparisonOperator"], props["Threshold"], props["Statistic"]) == (
        "LessThanThreshold",
        1,
        "Sum",
    )
    assert props["Period"] == 3600
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "DailyRunHeartbeatHours"}
    hours = tpl.load_template()["Parameters"]["DailyRunHeartbeatHours"]
    assert hours["MinValue"] > 24  # a day between runs, plus the run's own time
    assert hours["MaxValue"] * 3600 <= 7 * 86400  # CloudWatch's longest evaluation range
    # the code emits it where a run completes, and the functions publish under the namespace alarmed on
    assert "functions/renewal/daily.py" in " ".join(emitted_metric_names()["DailyRunCompleted"])
    env = tpl.load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == "staycert"


def test_table_ses_and_credly_alarms() -> None:
    table = [
        n for n, p in alarms().items() if "Metrics" in p and "ThrottleEvents" in json.dumps(p["Metrics"])
    ]
    assert table == ["TableThrottleAlarm"]
    # AWS's published review thresholds: bounce rate 5%, complaint rate 0.1%
    assert alarms()["SesBounceRateAlarm"]["Threshold"] == 0.05
    assert alarms()["SesComplaintRateAlarm"]["Threshold"] == 0.001
    assert alarms_on(NAMESPACE, BusinessMetric.CREDLY_FAILURES.value, "staycert") == ["CredlyFailuresAlarm"]


def test_every_alarm_notifies_the_topic_and_is_on_the_dashboard() -> None:
    on_board = {
        arn for w in dashboard()["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]
    }
    for name, props in alarms().items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert f"<{name}.Arn>" in on_board, name
    subscriptions = resources_of("AWS::SNS::Subscription")
    protocols = {s["Properties"]["Protocol"]: s.get("Condition") for s in subscriptions.values()}
    assert protocols == {"email": None, "https": "HasAlarmHttpsEndpoint"}


def test_every_metric_the_code_emits_is_on_the_dashboard() -> None:
    emitted = emitted_metric_names()
    assert set(emitted) == {m.value for m in BusinessMetric}  # and nothing in the registry is dead
    missing = set(emitted) - dashboard_metric_names()
    assert not missing, f"emitted but not on the dashboard: {sorted(missing)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_metrics_are_only_emitted_through_the_registry(path: Path) -> None:
    if path.name == "observability.py":
        return
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\badd_metric\(|\bsingle_metric\b|EMFProvider", text), path


def test_stateful_resources_are_retained() -> None:
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue"):
        for name, resource in resources_of(kind).items():
            assert resource.get("DeletionPolicy") == "Retain", name
            assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_every_function_reserves_concurrency_within_the_account_default() -> None:
    reserved = {
        name: r["Properties"].get("ReservedConcurrentExecutions")
        for name, r in resources_of("AWS::Serverless::Function").items()
    }
    assert all(isinstance(n, int) and n >= 1 for n in reserved.values()), reserved
    # at most half of what an account can reserve, so other workloads of the account keep the rest
    assert sum(reserved.values()) <= (ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM) // 2, reserved
