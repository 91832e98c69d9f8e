"""Why a recertification request is refused: 409 when the application's state forbids it, 422 when
a rule does (``shared/http.py`` maps both families once)."""

from __future__ import annotations

from shared.errors import Conflict, Unprocessable


class ApplicationAlreadyOpen(Conflict):
    code = "application_open"


class NotLapsed(Conflict):
    code = "not_lapsed"


class ApplicationClosed(Conflict):
    code = "application_closed"


class MethodNotAllowed(Unprocessable):
    code = "method_not_allowed"


class NotEligible(Unprocessable):
    code = "not_eligible"


class RequirementMissing(Unprocessable):
    code = "requirement_missing"
