"""Staff sign-in for the console: the authorization-code flow with PKCE against the staff user pool's
hosted sign-in, done server-side (the browser never holds a token in JavaScript; it gets an HttpOnly
cookie), and the check every console request goes through (docs/console.md, "Sign-in").

PKCE (RFC 7636) is two lines of ``secrets`` and ``hashlib``: a random verifier, its SHA-256 in
base64url as the challenge. A library for it (authlib) would bring a whole OAuth framework for them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# The cookie names, the group and the helpers below are read on every console request; the Cognito
# adapter (and PyJWT under it) only by a sign-in or a token check, which import it themselves.
if TYPE_CHECKING:
    from shared.adapters.cognito import CognitoHostedUi, CognitoTokenVerifier

STAFF_GROUP = "staff"
# ``__Host-``: the browser keeps these only when Secure, Path=/ and without Domain (no sibling host can
# set or read them). The session holds the access token; the sign-in cookie the state and PKCE verifier
# between the redirect to the hosted sign-in and the callback.
SESSION_COOKIE = "__Host-staycert-console"
SIGN_IN_COOKIE = "__Host-staycert-sign-in"
SIGN_IN_SECONDS = 600  # how long a started sign-in may take


def cookie_value(cookies: list[str] | None, name: str) -> str:
    """The value of a cookie from API Gateway's ``cookies`` list (``name=value`` each); "" if absent."""
    for cookie in cookies or ():
        key, _, value = cookie.partition("=")
        if key.strip() == name:
            return value.strip()
    return ""


@dataclass(frozen=True)
class SignInStart:
    url: str  # where the browser goes: the hosted sign-in page
    state: str  # comes back on the callback; must match the one kept in the browser's cookie
    verifier: str  # PKCE: kept in the same cookie, sent with the code to the token endpoint


@dataclass(frozen=True)
class StaffIdentity:
    subject: str
    username: str
    groups: tuple[str, ...]
    expires_at: int  # epoch seconds


@dataclass(frozen=True)
class SignedIn:
    token: str
    identity: StaffIdentity
    max_age: int  # seconds the session cookie lives: the token's own lifetime


def _groups(claims: dict[str, Any]) -> tuple[str, ...]:
    groups = claims.get("cognito:groups", [])
    return tuple(str(g) for g in groups) if isinstance(groups, list) else ()


class StaffSessions:
    """Checks a presented access token: a valid token of the pool and client, in the staff group."""

    def __init__(self, verifier: CognitoTokenVerifier) -> None:
        self._verifier = verifier

    def identify(self, token: str) -> StaffIdentity:
        """The staff member the token names; ``TokenRejected`` with the reason otherwise."""
        from shared.adapters.cognito import TokenProblem, TokenRejected

        claims = self._verifier.verify(token)
        groups = _groups(claims)
        if STAFF_GROUP not in groups:
            raise TokenRejected(TokenProblem.NOT_STAFF)
        return StaffIdentity(
            subject=str(claims["sub"]),
            username=str(claims.get("username", claims["sub"])),
            groups=groups,
            expires_at=int(claims["exp"]),
        )


class StaffSignIn:
    """Starts and finishes the hosted sign-in for the console's app client."""

    def __init__(self, hosted_ui: CognitoHostedUi, sessions: StaffSessions, console_url: str) -> None:
        self._ui = hosted_ui
        self._sessions = sessions
        self.redirect_uri = f"{console_url}/callback"
        self.signed_out_uri = console_url  # back to the console, which asks for a sign-in again

    def start(self) -> SignInStart:
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]: RFC 7636 allows 43-128
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        url = self._ui.authorize_url(self.redirect_uri, state, challenge.rstrip(b"=").decode("ascii"))
        return SignInStart(url, state, verifier)

    def finish(self, code: str, verifier: str) -> SignedIn:
        """The code from the callback for a checked staff session (``CodeRefused``, ``TokenRejected``:
        a signed-in person outside the staff group gets no session)."""
        tokens = self._ui.exchange(code, verifier, self.redirect_uri)
        identity = self._sessions.identify(tokens.access_token)
        return SignedIn(tokens.access_token, identity, tokens.expires_in)

    def sign_out_url(self) -> str:
        return self._ui.logout_url(self.signed_out_uri)


def state_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison of the callback's state with the one the browser kept."""
    return bool(expected) and secrets.compare_digest(expected.encode(), presented.encode())
