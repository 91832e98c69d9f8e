"""The staff console's authorizer: an HTTP API Lambda REQUEST authorizer (payload 2.0, simple
responses) that reads the session cookie the console's sign-in sets - an HTTP API JWT authorizer reads
only a header or a query string, which a browser does not send on plain links and forms.

- a Cognito access token of the staff pool and console client, unexpired, in the ``staff`` group:
  authorized, with ``session: staff`` and who it is in the context;
- no cookie, or an expired token: authorized with ``session: none`` / ``expired`` and nothing else;
  the console answers those with a redirect to the sign-in (a Lambda authorizer can only answer 403);
- any other token (tampered, another pool or client, an ID token, outside the staff group): 403.
Results are not cached (each request is checked; the JWKS is cached in the verifier).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.cognito import TokenProblem, TokenRejected
from shared.observability import lambda_entry, logger
from shared.services.factories import staff_sessions
from shared.services.staff_sign_in import SESSION_COOKIE, cookie_value

# Problems a person fixes by signing in again (the console redirects): the rest are refused.
SIGN_IN_AGAIN = frozenset({TokenProblem.EXPIRED})


@lambda_entry()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerEventV2(event)
    token = cookie_value(request.cookies, SESSION_COOKIE)
    if not token:
        return APIGatewayAuthorizerResponseV2(authorize=True, context={"session": "none"}).asdict()
    sessions = staff_sessions()
    if sessions is None:  # no pool configured: nobody gets in
        logger.error("the console's authorizer has no user pool configured")
        return APIGatewayAuthorizerResponseV2(authorize=False).asdict()
    try:
        staff = sessions.identify(token)
    except TokenRejected as rejected:
        logger.info("console token refused", extra={"problem": rejected.problem.value})
        if rejected.problem in SIGN_IN_AGAIN:
            return APIGatewayAuthorizerResponseV2(authorize=True, context={"session": "expired"}).asdict()
        return APIGatewayAuthorizerResponseV2(authorize=False).asdict()
    return APIGatewayAuthorizerResponseV2(
        authorize=True,
        context={"session": "staff", "sub": staff.subject, "groups": " ".join(staff.groups)},
    ).asdict()
