"""Cognito for the staff console: the user pool's hosted sign-in (OAuth 2.0 authorization code with
PKCE, its ``/oauth2/token`` endpoint) and the verification of the access tokens it issues.

The token endpoint is called with ``urllib3`` (already in the Lambda runtime with botocore, as the
Credly adapter does). Only a failed connection is retried: an authorization code is single-use, so a
retried POST whose first answer was lost would be refused anyway.

Tokens are verified with PyJWT against the pool's JWKS (``{issuer}/.well-known/jwks.json``, fetched
once and cached by ``PyJWKClient`` for the life of the execution environment; a token signed with an
unknown key id fetches it again once): RS256 only, the signature, ``iss`` (this pool), ``exp``,
``token_use`` (``access``) and ``client_id`` (the console's app client; a Cognito access token carries
its audience there rather than in ``aud``). The ``staff`` group is the service's decision, not ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import jwt
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 5.0
ALGORITHMS = ["RS256"]  # what Cognito signs with; "none" and HMAC tokens are refused outright


class TokenProblem(StrEnum):
    """Why a presented token is not accepted."""

    MALFORMED = "malformed"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_TOKEN_USE = "wrong_token_use"  # noqa: S105 - a reason, not a secret
    NOT_STAFF = "not_staff"


class TokenRejected(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class CognitoUnavailable(Exception):
    """The JWKS or the token endpoint could not be reached or answered nonsense (not the caller's fault)."""


class CodeRefused(Exception):
    """The token endpoint refused the authorization code (``invalid_grant``: used, expired, or not
    issued for this redirect URI and verifier)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int  # seconds


class CognitoTokenVerifier:
    """Verifies a Cognito access token of one user pool and one app client; returns its claims."""

    def __init__(self, issuer: str, client_id: str, *, jwks_url: str | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._keys = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json", cache_keys=True, timeout=int(TIMEOUT_SECONDS)
        )

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise CognitoUnavailable(f"the user pool's JWKS: {error}") from error
        except jwt.PyJWKClientError as error:  # no key with the token's kid
            raise TokenRejected(TokenProblem.UNKNOWN_KEY) from error
        except jwt.DecodeError as error:  # not a JWT at all
            raise TokenRejected(TokenProblem.MALFORMED) from error
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                # An access token has no ``aud`` (its client is ``client_id``, checked below); an ID token
                # has one and is then refused for its ``token_use``, not for an audience.
                options={"require": ["exp", "iss", "sub", "token_use", "client_id"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRejected(TokenProblem.EXPIRED) from error
        except jwt.InvalidIssuerError as error:
            raise TokenRejected(TokenProblem.WRONG_ISSUER) from error
        except jwt.InvalidSignatureError as error:
            raise TokenRejected(TokenProblem.BAD_SIGNATURE) from error
        except jwt.InvalidTokenError as error:  # missing claims, bad encoding, not yet valid, bad alg
            raise TokenRejected(TokenProblem.MALFORMED) from error
        if claims["token_use"] != "access":  # noqa: S105 - a claim value, not a secret
            raise TokenRejected(TokenProblem.WRONG_TOKEN_USE)
        if claims["client_id"] != self.client_id:
            raise TokenRejected(TokenProblem.WRONG_AUDIENCE)
        return claims


class CognitoHostedUi:
    """The user pool domain's OAuth 2.0 endpoints for a public app client (no client secret)."""

    def __init__(self, domain_url: str, client_id: str, *, http: urllib3.PoolManager | None = None) -> None:
        self.domain_url = domain_url.rstrip("/")
        self.client_id = client_id
        self._http = http or urllib3.PoolManager(
            retries=Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2),
            timeout=urllib3.Timeout(total=TIMEOUT_SECONDS),
        )

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid",
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.domain_url}/oauth2/authorize?{query}"

    def logout_url(self, logout_uri: str) -> str:
        return (
            f"{self.domain_url}/logout?{urlencode({'client_id': self.client_id, 'logout_uri': logout_uri})}"
        )

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        """The authorization code (and the PKCE verifier that goes with it) for the tokens."""
        try:
            response = self._http.request(
                "POST",
                f"{self.domain_url}/oauth2/token",
                body=urlencode(
                    {
                        "grant_type": "authorization_code",
                        "client_id": self.client_id,
                        "code": code,
                        "redirect_uri": redirect_uri,
                        "code_verifier": code_verifier,
                    }
                ),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            )
        except Urllib3Error as error:
            raise CognitoUnavailable(f"the token endpoint: {error}") from error
        try:
            body = json.loads(response.data)
        except ValueError as error:
            raise CognitoUnavailable(f"the token endpoint answered {response.status} without JSON") from error
        if response.status == 400 and isinstance(body, dict) and isinstance(body.get("error"), str):
            raise CodeRefused(body["error"])
        if response.status != 200 or not isinstance(body, dict):
            raise CognitoUnavailable(f"the token endpoint answered {response.status}")
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise CognitoUnavailable("the token endpoint's answer has no access_token/expires_in")
        return Tokens(token, expires_in)
