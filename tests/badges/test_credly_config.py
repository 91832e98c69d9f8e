"""The Credly organization id can never be empty: not in the template, the settings, nor the client
(an empty id skipped the webhook's organization check and built ``/organizations//...`` paths)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from local import template as tpl
from local.stack import LOCAL_REFS
from shared.adapters.credly import CredlyClient
from shared.config.integrations import IntegrationSettings
from shared.config.settings import Settings
from shared.services.badges import BadgeService


def test_template_parameter_has_no_empty_default_and_refuses_empty() -> None:
    parameter = tpl.load_template()["Parameters"]["CredlyOrganizationId"]
    assert "Default" not in parameter  # a deploy must name the organization
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") is None
    assert pattern.fullmatch("a/b") is None
    assert pattern.fullmatch("4f3c2b1a-0000-4000-8000-000000000001")
    assert pattern.fullmatch(LOCAL_REFS["CredlyOrganizationId"])  # the local stack supplies one


@pytest.mark.parametrize("value", [None, "", " ", "a/b"])
def test_settings_refuse_a_missing_or_empty_organization(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CREDLY_ORGANIZATION_ID", raising=False)
    else:
        monkeypatch.setenv("CREDLY_ORGANIZATION_ID", value)
    with pytest.raises(ValidationError) as raised:
        IntegrationSettings()
    assert raised.value.errors()[0]["loc"] == ("credly_organization_id",)


def test_settings_accept_an_organization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDLY_ORGANIZATION_ID", "org-1")
    assert IntegrationSettings().credly_organization_id == "org-1"


def test_client_refuses_an_empty_organization() -> None:
    with pytest.raises(ValueError, match="organization id is required"):
        CredlyClient("http://127.0.0.1:9", "", lambda: "token")


def test_webhook_is_never_confirmed_without_an_organization() -> None:
    called: list[str] = []

    def no_client() -> CredlyClient:
        called.append("credly")
        raise AssertionError("Credly must not be called")

    service = BadgeService(
        None,  # type: ignore[arg-type] - never reached
        Settings().policy(),
        no_client,
        ZoneInfo("America/Chicago"),
        organization_id="",
    )
    envelope = {"id": "evt-1", "organization_id": "", "event_type": "badge.state.changed"}
    assert service.apply_webhook(envelope, None) == "ignored: no organization configured"  # type: ignore[arg-type]
    assert called == []
