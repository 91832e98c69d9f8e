"""The staff console's sign-in on template.yaml: a Cognito user pool, its app client and a ``staff``
group; a JWT authorizer trusting only that pool, on the console's routes only. Both directions: no
member-portal (or other) route takes the staff token, and no console route is IAM-only or open."""

from __future__ import annotations

from typing import Any

from local import template as tpl


def _resources_of(kind: str) -> dict[str, Any]:
    return {name: r for name, r in tpl.resources().items() if r["Type"] == kind}


def _api_auth() -> dict[str, Any]:
    [api] = _resources_of("AWS::Serverless::HttpApi").values()
    auth: dict[str, Any] = api["Properties"]["Auth"]
    return auth


def test_the_staff_jwt_authorizer_trusts_only_the_staff_user_pool_and_its_console_client() -> None:
    auth = _api_auth()
    assert auth["DefaultAuthorizer"] == "AWS_IAM"  # anything not saying otherwise stays IAM
    assert tpl.jwt_authorizers() == {"StaffJwt"}
    staff = auth["Authorizers"]["StaffJwt"]
    assert staff["IdentitySource"] == "$request.header.Authorization"
    issuer = staff["JwtConfiguration"]["issuer"]["Fn::Sub"]
    assert issuer == "https://cognito-idp.${AWS::Region}.amazonaws.com/${StaffUserPool}"
    assert staff["JwtConfiguration"]["audience"] == [{"Ref": "StaffConsoleClient"}]


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


def test_no_route_outside_the_console_takes_the_staff_token() -> None:
    jwt = tpl.jwt_authorizers()
    assert [r for r in tpl.routes() if not r.path.startswith("/console") and r.authorizer in jwt] == []
    portal = [r for r in tpl.routes() if r.path.startswith("/members")]
    assert portal
    assert {r.authorizer for r in portal} == {"AWS_IAM"}


def test_every_console_route_takes_the_staff_token_never_iam_or_nothing() -> None:
    console = [r for r in tpl.routes() if r.path == "/console" or r.path.startswith("/console/")]
    assert {r.route_key for r in console} == {
        "GET /console",
        "GET /console/members",
        "GET /console/members/{member_id}",
        "GET /console/queues/{queue}",
        "POST /console/actions/{action}",
    }
    assert {r.authorizer for r in console} == {"StaffJwt"}
    assert {r.function for r in console} == {"ConsoleFunction"}
    # and the console function serves nothing else
    assert [r for r in tpl.routes() if r.function == "ConsoleFunction" and r not in console] == []
