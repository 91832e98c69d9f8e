"""Reads template.yaml - the single source of wiring - for the local stack and the tests.

Nothing here repeats a route, a table or a handler: tables, HTTP routes, schedules, S3 and stream
subscriptions all come from the template, so the local stack cannot drift from what is deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form intrinsics (!Ref, !Sub, ...) as dicts."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict):
        raise TypeError(f"{path} is not a CloudFormation template")
    return cast(dict[str, Any], loaded)


def resources(template: dict[str, Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (template or load_template())["Resources"]
    return found


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    module: str  # importable module, e.g. functions.members_api.app
    attribute: str  # handler attribute, e.g. handler
    environment: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDef:
    method: str
    path: str  # API Gateway path, e.g. /members/{member_id}/status
    function: str  # logical id
    authorizer: str  # AWS_IAM, NONE or the name of one of the HTTP API's authorizers (StaffSession)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def pattern(self) -> re.Pattern[str]:
        """Matches a request path; {name} segments match one segment, {name+} the rest."""
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


def functions(template: dict[str, Any] | None = None) -> dict[str, FunctionDef]:
    template = template or load_template()
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    found: dict[str, FunctionDef] = {}
    for logical_id, resource in resources(template).items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        code_dir = props["CodeUri"].strip("/").replace("/", ".")
        module_name, attribute = props["Handler"].rsplit(".", 1)
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        found[logical_id] = FunctionDef(
            logical_id=logical_id,
            module=f"{code_dir}.{module_name}",
            attribute=attribute,
            environment=env,
            events=props.get("Events", {}),
        )
    return found


def routes(template: dict[str, Any] | None = None) -> list[RouteDef]:
    template = template or load_template()
    api_auth = "NONE"
    for resource in resources(template).values():
        if resource["Type"] == "AWS::Serverless::HttpApi":
            api_auth = resource["Properties"].get("Auth", {}).get("DefaultAuthorizer", "NONE")
    found = []
    for function in functions(template).values():
        for event in function.events.values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = props.get("Auth", {}).get("Authorizer", api_auth)
            found.append(RouteDef(props["Method"].upper(), props["Path"], function.logical_id, authorizer))
    return found


def lambda_authorizers(template: dict[str, Any] | None = None) -> set[str]:
    """Names of the HTTP API's Lambda authorizers (``Auth.Authorizers`` with a ``FunctionArn``)."""
    return {
        name
        for resource in resources(template or load_template()).values()
        if resource["Type"] == "AWS::Serverless::HttpApi"
        for name, spec in resource["Properties"].get("Auth", {}).get("Authorizers", {}).items()
        if "FunctionArn" in spec
    }


def functions_with_event(
    event_type: str, template: dict[str, Any] | None = None
) -> list[tuple[FunctionDef, dict[str, Any]]]:
    """(function, event properties) for every event of a type: ScheduleV2, S3, DynamoDB, ..."""
    return [
        (function, event.get("Properties", {}))
        for function in functions(template).values()
        for event in function.events.values()
        if event["Type"] == event_type
    ]


def table_definition(
    logical_id: str = "StayCertTable", template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """CreateTable arguments for a table of the template (for moto), minus what moto cannot take."""
    props = resources(template)[logical_id]["Properties"]
    definition: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition
