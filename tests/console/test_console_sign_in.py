"""The console's sign-in without AWS: a local HTTP server plays the staff user pool (its JWKS and its
hosted sign-in's token endpoint, checking the PKCE verifier) with an RSA key made here. The console's
authorizer (functions/console_authorizer) checks the session cookie; its answer is handed to the console
function as API Gateway would (``requestContext.authorizer.lambda``)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.events import http_api_event, route_for
from local.stack import reset_process_caches
from shared.adapters.cognito import TokenProblem, TokenRejected
from shared.services.factories import staff_sessions
from shared.services.staff_sign_in import SESSION_COOKIE, SIGN_IN_COOKIE
from tests.helpers import invoke

CLIENT_ID = "consoleclient1"
CONSOLE_URL = "https://console.test/prod/console"
KID = "key-1"


@dataclass
class FakePool:
    """The user pool's endpoints the console calls: ``{issuer}/.well-known/jwks.json`` and
    ``{domain}/oauth2/token``. ``grant`` plays the hosted sign-in page: it issues a code for a user,
    bound to the redirect URI and PKCE challenge of the request the console sent there."""

    domain: str
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    down: bool = False  # the token endpoint answers 500

    @property
    def issuer(self) -> str:
        return f"{self.domain}/us-east-1_pool"

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def token(self, key: rsa.RSAPrivateKey | None = None, kid: str = KID, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "sub": "5f1c-staff",
            "iss": self.issuer,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "openid",
            "username": "5f1c-staff",
            "cognito:groups": ["staff"],
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def grant(self, authorize_url: str, **claims: Any) -> str:
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert authorize_url.startswith(f"{self.domain}/oauth2/authorize?")
        assert query["response_type"] == "code"
        assert query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        self.codes[code] = {"query": query, "claims": claims}
        return code

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        if self.down:
            return 500, {"message": "internal error"}
        issued = self.codes.pop(form.get("code", ""), None)
        if issued is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        query = issued["query"]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if (
            challenge.rstrip(b"=").decode() != query["code_challenge"]
            or form.get("redirect_uri") != query["redirect_uri"]
            or form.get("client_id") != CLIENT_ID
        ):
            return 400, {"error": "invalid_grant"}
        token = self.token(**issued["claims"])
        return 200, {"access_token": token, "id_token": "unused", "token_type": "Bearer", "expires_in": 3600}


@pytest.fixture
def pool(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePool]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakePool(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == urlsplit(f"{fake.issuer}/.well-known/jwks.json").path:
                self._answer(200, fake.jwks())
            else:
                self._answer(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            ok = self.path == "/oauth2/token" and self.headers.get_content_type() == (
                "application/x-www-form-urlencoded"
            )
            self._answer(*fake.exchange(form)) if ok else self._answer(404, {})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STAFF_SIGN_IN_DOMAIN", fake.domain)
    monkeypatch.setenv("STAFF_TOKEN_ISSUER", fake.issuer)
    monkeypatch.setenv("STAFF_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CONSOLE_URL", CONSOLE_URL)
    reset_process_caches()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        reset_process_caches()


# ---------------------------------------------------------------------- as API Gateway calls them


def authorize(cookies: list[str]) -> dict[str, Any]:
    """The authorizer's simple response for a request to ``GET /console`` carrying these cookies."""
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/console",
        "identitySource": [],
        "routeKey": "GET /console",
        "rawPath": "/prod/console",
        "rawQueryString": "",
        "cookies": cookies,
        "headers": {"host": "console.test"},
        "requestContext": {"http": {"method": "GET", "path": "/prod/console"}, "stage": "prod"},
    }
    answer: dict[str, Any] = invoke("ConsoleAuthorizerFunction", event)
    return answer


def console(
    method: str,
    path: str,
    *,
    cookies: list[str] | None = None,
    authorizer: dict[str, Any] | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> dict[str, Any]:
    """The console function's answer, its authorizer context as API Gateway passes it on (none on the
    sign-in routes, which have no authorizer)."""
    route, params = route_for(method, path)
    event = http_api_event(route, path, params, query=query, headers=headers, body=body)
    event["cookies"] = cookies or []
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"lambda": authorizer.get("context", {})}
    response: dict[str, Any] = invoke(route.function, event)
    return response


def session(token: str) -> list[str]:
    return [f"{SESSION_COOKIE}={token}"]


def set_cookie(response: dict[str, Any], name: str) -> str:
    [found] = [c for c in response.get("cookies", []) if c.startswith(f"{name}=")]
    return str(found)


# ---------------------------------------------------------------------- the authorizer


def test_a_valid_staff_token_is_authorized_and_the_console_answers(pool: FakePool) -> None:
    answer = authorize(session(pool.token()))
    assert answer == {
        "isAuthorized": True,
        "context": {"session": "staff", "sub": "5f1c-staff", "groups": "staff"},
    }
    home = console("GET", "/console", authorizer=answer)
    assert home["statusCode"] == 200
    assert "Search and work queues" in home["body"]


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, "wrong issuer"),
        ({"client_id": "anotherclient"}, "wrong audience: another app client of the pool"),
        ({"cognito:groups": ["members"]}, "no staff group"),
        ({"cognito:groups": ["staffing"]}, "a group that only starts like it"),
        ({"token_use": "id", "aud": CLIENT_ID}, "an ID token, not an access token"),
    ],
)
def test_a_token_that_is_not_a_staff_access_token_of_the_console_is_refused(
    pool: FakePool, claims: dict[str, Any], why: str
) -> None:
    claims = {k: v for k, v in claims.items()}
    assert authorize(session(pool.token(**claims))) == {"isAuthorized": False}, why


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({}, None),
        ({"exp": 1_700_000_000}, TokenProblem.EXPIRED),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, TokenProblem.WRONG_ISSUER),
        ({"client_id": "anotherclient"}, TokenProblem.WRONG_AUDIENCE),
        ({"token_use": "id", "aud": CLIENT_ID}, TokenProblem.WRONG_TOKEN_USE),
        ({"cognito:groups": ["members"]}, TokenProblem.NOT_STAFF),
        ({"cognito:groups": "staff"}, TokenProblem.NOT_STAFF),  # a group list, not a string
        ({"client_id": None}, TokenProblem.MALFORMED),
    ],
)
def test_each_refusal_has_its_reason(
    pool: FakePool, claims: dict[str, Any], problem: TokenProblem | None
) -> None:
    sessions = staff_sessions()
    assert sessions is not None
    token = pool.token(**{k: v for k, v in claims.items() if v is not None})
    if claims.get("client_id", "") is None:
        token = jwt.encode(
            {
                k: v
                for k, v in jwt.decode(token, options={"verify_signature": False}).items()
                if k != "client_id"
            },
            pool.key,
            algorithm="RS256",
            headers={"kid": KID},
        )
    if problem is None:
        assert sessions.identify(token).groups == ("staff",)
        return
    with pytest.raises(TokenRejected) as rejected:
        sessions.identify(token)
    assert rejected.value.problem is problem


def test_a_tampered_token_is_refused(pool: FakePool) -> None:
    header, payload, signature = pool.token(**{"cognito:groups": ["members"]}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["staff"]  # promoted, keeping the signature of the original
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert authorize(session(f"{header}.{forged}.{signature}")) == {"isAuthorized": False}
    other_key = rsa.generate_private_key(65537, 2048)  # signed by someone else, with the pool's key id
    assert authorize(session(pool.token(key=other_key))) == {"isAuthorized": False}
    assert authorize(session(pool.token(kid="not-the-pools"))) == {"isAuthorized": False}
    unsigned = jwt.encode({"sub": "x"}, key=None, algorithm="none", headers={"kid": KID})
    assert authorize(session(unsigned)) == {"isAuthorized": False}
    assert authorize(session("not-a-jwt")) == {"isAuthorized": False}


def test_no_cookie_or_an_expired_token_goes_to_the_sign_in(pool: FakePool) -> None:
    for cookies, state in (([], "none"), (session(pool.token(exp=int(time.time()) - 60)), "expired")):
        answer = authorize(cookies)
        assert answer == {"isAuthorized": True, "context": {"session": state}}
        for method, path in (
            ("GET", "/console"),
            ("GET", "/console/members/ana"),
            ("POST", "/console/actions/audit-decision"),
        ):
            response = console(method, path, authorizer=answer)
            assert response["statusCode"] == 303, (state, path)
            assert response["headers"]["Location"] == f"{CONSOLE_URL}/sign-in"


def test_the_console_refuses_a_request_no_authorizer_vouched_for(pool: FakePool) -> None:
    """Defence in depth: deployed, API Gateway never lets such a request through."""
    for authorizer in (None, {"context": {"session": "staff", "groups": "members"}}, {"context": {}}):
        response = console("GET", "/console", authorizer=authorizer)
        assert response["statusCode"] == 403
        assert "sign in with a staff account" in response["body"]


# ---------------------------------------------------------------------- the sign-in


def _start(pool: FakePool) -> tuple[str, str]:
    """GET /console/sign-in: the hosted sign-in's URL and the sign-in cookie the browser keeps."""
    started = console("GET", "/console/sign-in")
    assert started["statusCode"] == 303
    kept = set_cookie(started, SIGN_IN_COOKIE)
    assert "; Secure" in kept
    assert "; HttpOnly" in kept
    assert "; SameSite=Lax" in kept
    assert "; Path=/" in kept
    return started["headers"]["Location"], kept.split(";")[0]


def test_sign_in_code_flow_with_pkce_sets_a_strict_http_only_session_cookie(pool: FakePool) -> None:
    url, kept = _start(pool)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["redirect_uri"] == f"{CONSOLE_URL}/callback"
    assert "code_verifier" not in query  # only its hash travels through the browser
    code = pool.grant(url)
    back = console(
        "GET", "/console/callback", query=urlencode({"code": code, "state": query["state"]}), cookies=[kept]
    )
    assert back["statusCode"] == 200, back["body"]
    [exchange] = pool.token_requests
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["client_id"] == CLIENT_ID
    assert f'<meta http-equiv="refresh" content="0; url={CONSOLE_URL}">' in back["body"]
    cookie = set_cookie(back, SESSION_COOKIE)
    for attribute in ("; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict", "; Max-Age=3600"):
        assert attribute in cookie, attribute
    assert "Max-Age=0" in set_cookie(back, SIGN_IN_COOKIE)  # the verifier is single-use
    assert cookie.split(";")[0].split("=", 1)[1] not in back["body"]  # the token stays out of the page
    # the cookie the browser now sends gets it in
    answer = authorize([cookie.split(";")[0]])
    assert answer["context"]["session"] == "staff"
    assert console("GET", "/console", authorizer=answer)["statusCode"] == 200


def test_a_callback_that_does_not_belong_to_a_sign_in_started_here_is_refused(pool: FakePool) -> None:
    url, kept = _start(pool)
    state = parse_qs(urlsplit(url).query)["state"][0]
    code = pool.grant(url)
    for cookies, query in (
        ([], {"code": code, "state": state}),  # started in another browser
        ([kept], {"code": code, "state": "forged"}),  # another sign-in's answer
    ):
        refused = console("GET", "/console/callback", query=urlencode(query), cookies=cookies)
        assert refused["statusCode"] == 400
        assert "Sign-in not started here" in refused["body"]
        assert "cookies" not in refused or not any(c.startswith(SESSION_COOKIE) for c in refused["cookies"])
    assert pool.token_requests == []  # nothing was exchanged
    # a code the pool refuses (here: the verifier does not match the challenge) is said in words
    other_url, other_kept = _start(pool)
    other_state = parse_qs(urlsplit(other_url).query)["state"][0]
    refused = console(
        "GET",
        "/console/callback",
        query=urlencode({"code": code, "state": other_state}),
        cookies=[other_kept],
    )
    assert refused["statusCode"] == 400
    assert "invalid_grant" in refused["body"]


def test_a_token_endpoint_that_does_not_answer_is_a_503_in_words(pool: FakePool) -> None:
    url, kept = _start(pool)
    state = parse_qs(urlsplit(url).query)["state"][0]
    pool.down = True
    back = console(
        "GET", "/console/callback", query=urlencode({"code": pool.grant(url), "state": state}), cookies=[kept]
    )
    assert back["statusCode"] == 503
    assert "the sign-in service did not answer: try again" in back["body"]
    assert not any(c.startswith(SESSION_COOKIE) for c in back.get("cookies", []))


def test_a_signed_in_person_outside_the_staff_group_gets_no_session(pool: FakePool) -> None:
    url, kept = _start(pool)
    code = pool.grant(url, **{"cognito:groups": ["members"]})
    state = parse_qs(urlsplit(url).query)["state"][0]
    back = console(
        "GET", "/console/callback", query=urlencode({"code": code, "state": state}), cookies=[kept]
    )
    assert back["statusCode"] == 403
    assert not any(c.startswith(SESSION_COOKIE) for c in back.get("cookies", []))


def test_sign_out_forgets_the_session_and_ends_the_hosted_one(pool: FakePool) -> None:
    out = console("GET", "/console/sign-out", cookies=session(pool.token()))
    assert out["statusCode"] == 303
    assert out["headers"]["Location"] == (
        f"{pool.domain}/logout?{urlencode({'client_id': CLIENT_ID, 'logout_uri': CONSOLE_URL})}"
    )
    assert "Max-Age=0" in set_cookie(out, SESSION_COOKIE)


# ---------------------------------------------------------------------- forms from elsewhere


def test_a_form_from_another_origin_changes_nothing(pool: FakePool, aws: dict[str, Any]) -> None:
    answer = authorize(session(pool.token()))
    fields = urlencode(
        {
            "activity_id": "https://courses.example.org/x",
            "title": "X",
            "category": "professional_education",
            "points": "1",
            "provider_id": "acme",
            "confirmed": "yes",
        }
    ).encode()
    form = {"content-type": "application/x-www-form-urlencoded", "host": "console.test"}
    for origin in ({"origin": "https://www.console.test"}, {"origin": "null"}, {}):
        refused = console(
            "POST",
            "/console/actions/catalog-mapping",
            authorizer=answer,
            headers={**form, **origin},
            body=fields,
        )
        assert refused["statusCode"] == 403, origin
        assert "the form was not sent from this console" in refused["body"]
    assert [
        i
        for i in aws["dynamodb"].scan(TableName=aws["table"])["Items"]
        if i["pk"]["S"].startswith("ACTIVITY#")
    ] == []
    done = console(
        "POST",
        "/console/actions/catalog-mapping",
        authorizer=answer,
        headers={**form, "origin": "https://console.test"},
        body=fields,
    )
    assert done["statusCode"] == 200, done["body"]
