"""The staff console's sign-in on template.yaml: a Cognito user pool with its hosted sign-in domain, an
app client for the authorization-code flow and a ``staff`` group; a Lambda authorizer checking that
pool's tokens, on the console's routes only. Both directions: no member-portal (or other) route takes
the staff session, and no console route is IAM-only or open - but for the three sign-in routes."""

from __future__ import annotations

from typing import Any

from local import template as tpl


def _resources_of(kind: str) -> dict[str, Any]:
    return {name: r for name, r in tpl.resources().items() if r["Type"] == kind}


def _api_auth() -> dict[str, Any]:
    [api] = _resources_of("AWS::Serverless::HttpApi").values()
    auth: dict[str, Any] = api["Properties"]["Auth"]
    return auth


def test_the_staff_session_authorizer_is_the_console_authorizer_function_uncached() -> None:
    auth = _api_auth()
    assert auth["DefaultAuthorizer"] == "AWS_IAM"  # anything not saying otherwise stays IAM
    assert set(auth["Authorizers"]) == tpl.lambda_authorizers() == {"StaffSession"}
    staff = auth["Authorizers"]["StaffSession"]
    assert staff["FunctionArn"] == {"Fn::GetAtt": ["ConsoleAuthorizerFunction", "Arn"]}
    assert (staff["AuthorizerPayloadFormatVersion"], staff["EnableSimpleResponses"]) == ("2.0", True)
    # every request is checked (a cached "allow" would outlive a sign-out or the token's expiry), and
    # without an identity source a request without the cookie reaches the console: to the sign-in
    assert staff["Identity"] == {"ReauthorizeEvery": 0}
    function = tpl.functions()["ConsoleAuthorizerFunction"]
    assert function.module == "functions.console_authorizer.app"
    issuer = function.environment["STAFF_TOKEN_ISSUER"]["Fn::Sub"]
    assert issuer == "https://cognito-idp.${AWS::Region}.amazonaws.com/${StaffUserPool}"
    assert function.environment["STAFF_CLIENT_ID"] == {"Ref": "StaffConsoleClient"}
    console = tpl.functions()["ConsoleFunction"].environment
    assert console["STAFF_TOKEN_ISSUER"] == function.environment["STAFF_TOKEN_ISSUER"]
    assert console["STAFF_CLIENT_ID"] == {"Ref": "StaffConsoleClient"}
    assert console["STAFF_SIGN_IN_DOMAIN"]["Fn::Sub"] == (
        "https://${StaffUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"
    )
    assert console["CONSOLE_URL"] == {"Ref": "ConsoleUrl"}


def test_the_app_client_does_the_code_flow_back_to_the_console_only() -> None:
    [client] = _resources_of("AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthFlows"] == ["code"]  # no implicit flow: no token in a URL
    assert props["CallbackURLs"] == [{"Fn::Sub": "${ConsoleUrl}/callback"}]
    assert props["LogoutURLs"] == [{"Ref": "ConsoleUrl"}]
    [domain] = _resources_of("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["UserPoolId"] == {"Ref": "StaffUserPool"}


def test_the_user_pool_is_staff_only_with_mfa_and_a_staff_group() -> None:
    [pool] = _resources_of("AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # nobody signs up
    assert props["MfaConfiguration"] == "ON"
    assert props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    assert pool["DeletionPolicy"] == "Retain"  # the staff accounts outlive a stack replacement
    [client] = _resources_of("AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["GenerateSecret"] is False  # a browser holds no secret
    assert client["Properties"]["UserPoolId"] == {"Ref": "StaffUserPool"}
    [group] = _resources_of("AWS::Cognito::UserPoolGroup").values()
    assert group["Properties"]["GroupName"] == "staff"
    # the group the code checks is the group the template creates
    from functions.console.app import STAFF_GROUP

    assert group["Properties"]["GroupName"] == STAFF_GROUP


SIGN_IN = {"GET /console/sign-in", "GET /console/callback", "GET /console/sign-out"}


def test_no_route_outside_the_console_takes_the_staff_session() -> None:
    staff = tpl.lambda_authorizers()
    assert [r for r in tpl.routes() if not r.path.startswith("/console") and r.authorizer in staff] == []
    portal = [r for r in tpl.routes() if r.path.startswith("/members")]
    assert portal
    assert {r.authorizer for r in portal} == {"AWS_IAM"}


def test_every_console_route_takes_the_staff_session_never_iam_or_nothing_but_the_sign_in() -> None:
    console = [r for r in tpl.routes() if r.path == "/console" or r.path.startswith("/console/")]
    assert {r.route_key for r in console} == {
        "GET /console",
        "GET /console/members",
        "GET /console/members/{member_id}",
        "GET /console/queues/{queue}",
        "POST /console/actions/{action}",
    } | SIGN_IN
    assert {r.authorizer for r in console if r.route_key not in SIGN_IN} == {"StaffSession"}
    # the sign-in runs before there is a session (and sign-out must work with a refused one)
    assert {r.authorizer for r in console if r.route_key in SIGN_IN} == {"NONE"}
    assert {r.function for r in console} == {"ConsoleFunction"}
    # and the console function serves nothing else
    assert [r for r in tpl.routes() if r.function == "ConsoleFunction" and r not in console] == []
    # the function lets the sign-in routes through without a session, and only those
    from functions.console.app import PUBLIC_PATHS

    assert {f"GET {path}" for path in PUBLIC_PATHS} == SIGN_IN
