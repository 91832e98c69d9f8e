"""Cold start guard: what each Lambda handler of template.yaml imports before its first request.

A module on the deny list below costs cold-start time on every invocation of that function while
serving few or none of its requests (or must never be deployed at all). Such a module is imported where
it is used, on first use; this test fails when a handler's import closure gains one again.
``make bench`` (bench/bench_coldstart.py) measures what the closure costs.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]

DENIED = {
    # never deployed
    "moto": "the AWS mock (tests and the local stack only)",
    "local": "the local stack",
    "pytest": "the test runner",
    "hypothesis": "property tests",
    "schemathesis": "API fuzzing",
    "matplotlib": "staycert simulate's chart",
    # deployed, but only for one rare request: imported on first use
    "stripe": "the Stripe SDK: payment links only (shared/adapters), imported when a link is made",
    "requests": "the Stripe SDK's HTTP client, likewise",
    "fpdf": "fpdf2: the CE transcript only, imported when one is rendered",
    "PIL": "Pillow, pulled in by fpdf2",
    "fontTools": "fontTools, pulled in by fpdf2",
    "sqlite3": "X-Ray patches it when tracing patches every library (shared/observability.py names the two it traces)",
    "charset_normalizer": "requests' encoding detection, likewise",
    "email_validator": "pydantic's EmailStr check: built with the first model that has an email (models defer_build)",
    # no longer a runtime dependency
    "pydantic_settings": "its dotenv, CLI and cloud sources; settings read the environment in shared/config/env.py",
}

HANDLERS = {fn.logical_id: fn.module for fn in tpl.functions().values()}

# Per function: our own modules an API function imports on the first request of the route that needs
# them, not at cold start (its routes declare only wire models; each request pays for its own service).
_RECERT_SERVICES = (
    "shared.services.recertification",
    "shared.services.members",
    "shared.services.activities",
    "shared.services.catalog",
    "shared.store.members",
    "shared.config.integrations",
)
# Powertools' request validation: its middleware builds a pydantic model at import. A function whose
# routes take no parameters and no body (they read the raw body and validate it themselves) turns it
# off (shared.http.make_resolver(validation=False)); test_unvalidated_routes_take_no_parameters below.
_POWERTOOLS_VALIDATION = {
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation": "Powertools' request validation",
    "aws_lambda_powertools.event_handler.openapi.compat": "likewise (a pydantic model built at import)",
}
DENIED_OWN = {
    "XapiFunction": _POWERTOOLS_VALIDATION,
    "MembersApiFunction": {
        "shared.services.activities": "the CE activity routes' service",
        "shared.services.ce_record": "likewise",
        "shared.services.payment_links": "the payment link route's service",
        "shared.adapters.stripe_checkout": "likewise",
        "shared.adapters.secrets": "likewise (the Stripe API key)",
    },
    "RecertificationApiFunction": {
        **dict.fromkeys(_RECERT_SERVICES, "a recertification route's service"),
        "shared.services.audits": "the audit routes' service",
    },
    "ConsoleFunction": {
        "shared.services.console": "the member page's and the audit queues' service",
        "shared.services.members": "likewise",
        "shared.services.audits": "likewise, and the audit decision's",
        "shared.services.payments": "the payment queues' and the payment resolution's service",
        "shared.services.recertification": "the recertification decision's service",
        "shared.services.catalog": "the catalog queues' and the catalog mapping's service",
        "shared.services.recert_schemas": "an action's request model, loaded by the first form POST",
        "shared.services.payment_schemas": "likewise",
        "shared.rules.models": "the facts and status models: only the services above read them",
        "shared.adapters.cognito": "the sign-in routes' adapter",
        "jwt": "PyJWT, under it (the console's authorizer, another function, checks every token)",
    },
    "RecertificationCallbacksFunction": {
        **dict.fromkeys(_RECERT_SERVICES[:-1], "the exam result route's service"),
        "shared.services.badges": "the Credly webhook route's service",
    },
}

# Modules a function must import at cold start although nothing imported there needs them yet: most of
# its requests do, and deferring them to the first such request would only hide them from the figure.
REQUIRED = {
    "ConsoleFunction": {"boto3": "every console page but the home page and the sign-in reads the table"},
}

# Our own modules only one function needs: every other function's closure must not gain them.
ONLY_IN = {
    "shared.adapters.xapi": ("XapiFunction", "the xAPI statement models: the LMS callback function's own"),
}


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_handler_import_closure_has_no_heavy_module(function: str) -> None:
    code = f"import json, sys, {HANDLERS[function]}\nprint(json.dumps(sorted(sys.modules)))"
    # the Lambda runtime's environment (tracing on, as Tracing: Active deploys it): the X-Ray SDK and
    # Powertools' Tracer import more in Lambda than outside it
    env = {key: value for key, value in os.environ.items() if key != "POWERTOOLS_TRACE_DISABLED"} | {
        "TABLE_NAME": "StayCertClosure",
        "BUCKET_NAME": "staycert-closure",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "staycert-closure",
    }
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    modules = set(json.loads(out.stdout.splitlines()[-1]))
    loaded = {name.split(".")[0] for name in modules}
    found = {name: DENIED[name] for name in sorted(loaded & DENIED.keys())}
    own = DENIED_OWN.get(function, {}) | {
        name: reason for name, (owner, reason) in ONLY_IN.items() if owner != function
    }
    found |= {name: own[name] for name in sorted(modules & own.keys())}
    assert not found, f"{function} imports at cold start: {found}"
    missing = {name: why for name, why in REQUIRED.get(function, {}).items() if name not in modules}
    assert not missing, f"{function} no longer imports at cold start: {missing}"


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_unvalidated_routes_take_no_parameters(function: str) -> None:
    """Without Powertools' validation a declared parameter or body would reach the route unchecked (a
    path parameter as a raw string, a body never parsed): a resolver built with validation off may only
    have routes that declare neither."""
    app = getattr(importlib.import_module(HANDLERS[function]), "app", None)
    if not isinstance(app, APIGatewayHttpResolver) or app._enable_validation:
        return
    routes = app._static_routes + app._dynamic_routes
    assert routes
    for route in routes:
        dependant = route.dependant
        declared = [
            *dependant.path_params,
            *dependant.query_params,
            *dependant.header_params,
            *dependant.cookie_params,
            *dependant.body_params,
        ]
        assert not declared, f"{function} {route.method} {route.path}: {[field.name for field in declared]}"


def test_the_guard_sees_a_heavy_import() -> None:
    """The check itself: a module that imports fpdf at import time is caught."""
    code = "import json, sys, fpdf\nprint(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "fpdf" in set(json.loads(out.stdout.splitlines()[-1])) & DENIED.keys()
