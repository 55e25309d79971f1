"""The administrator security actions over the JSON API (SQLite and PostgreSQL): lockdown, force
password change, revoke sessions; their OpenAPI entries, scope, roles and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mailgate.services.container import Services

from .conftest import PASSWORD, World

USER = "user@a.test"


@pytest.fixture(autouse=True)
async def _background_work_ends(services: Services) -> AsyncIterator[None]:
    """Sign-ins start notices in the background (new device): let them end with the test."""
    yield
    await services.alerts.drain()


async def test_openapi_has_the_actions(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    for action in ("lockdown", "force-password-change", "revoke-sessions"):
        assert "post" in paths[f"/api/v1/accounts/{{address}}/{action}"], action
    lockdown = paths["/api/v1/accounts/{address}/lockdown"]["post"]
    schema = lockdown["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/LockdownIn")
    assert spec["components"]["schemas"]["LockdownIn"]["required"] == ["reason"]
    answer = lockdown["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/LockdownOut")
    assert {"404", "403", "422"} <= set(lockdown["responses"])


async def test_lockdown_over_the_api(client: httpx.AsyncClient, world: World) -> None:
    s = world.services
    signed_in = await s.identity.sign_in(USER, PASSWORD, source_ip="192.0.2.8", user_agent="UA")
    h = world.auth(world.alpha_admin_token)
    missing = await client.post(f"/api/v1/accounts/{USER}/lockdown", json={}, headers=h)
    assert missing.status_code == 422
    blank = await client.post(f"/api/v1/accounts/{USER}/lockdown", json={"reason": " "}, headers=h)
    assert blank.status_code == 422 and blank.json()["error"] == "invalid_input"

    done = await client.post(
        f"/api/v1/accounts/{USER}/lockdown", json={"reason": "token leaked"}, headers=h
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["account"]["state"] == "locked" and body["state_before"] == "active"
    assert (body["sessions_ended"], body["app_passwords_revoked"]) == (1, 0)
    assert await s.identity.session(signed_in.token, "192.0.2.8") is None
    again = await client.post(
        f"/api/v1/accounts/{USER}/lockdown", json={"reason": "once more"}, headers=h
    )
    assert again.status_code == 200 and again.json()["state_before"] == "locked"

    self_ = await client.post(
        "/api/v1/accounts/admin@a.test/lockdown", json={"reason": "oops"}, headers=h
    )
    assert self_.status_code == 403 and "own account" in self_.json()["message"]
    other = await client.post(
        "/api/v1/accounts/user@b.test/lockdown", json={"reason": "x"}, headers=h
    )
    assert other.status_code == 404
    desk = await client.post(
        f"/api/v1/accounts/{USER}/lockdown",
        json={"reason": "x"},
        headers=world.auth(world.alpha_helpdesk_token),
    )
    assert desk.status_code == 403
    extra = await client.post(
        f"/api/v1/accounts/{USER}/lockdown", json={"reason": "x", "force": True}, headers=h
    )
    assert extra.status_code == 422


async def test_force_password_change_and_revoke_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    s = world.services
    h = world.auth(world.alpha_admin_token)
    first = await client.post(f"/api/v1/accounts/{USER}/force-password-change", headers=h)
    assert first.status_code == 200 and first.json()["changed"] is True
    second = await client.post(
        f"/api/v1/accounts/{USER}/force-password-change", json={"reason": "audit"}, headers=h
    )
    assert second.json()["changed"] is False
    account = await s.accounts.get(world.root, USER)
    assert [a.value for a in account.required_actions] == ["update_password"]

    await s.identity.sign_in(USER, PASSWORD, source_ip="192.0.2.8", user_agent="UA")
    ended = await client.post(
        f"/api/v1/accounts/{USER}/revoke-sessions", json={"reason": "shared PC"}, headers=h
    )
    assert ended.status_code == 200
    assert ended.json() == {"address": USER, "sessions_ended": 1}
    desk = world.auth(world.alpha_helpdesk_token)
    for action in ("force-password-change", "revoke-sessions"):
        refused = await client.post(f"/api/v1/accounts/{USER}/{action}", headers=desk)
        assert refused.status_code == 403, action
        hidden = await client.post(f"/api/v1/accounts/user@b.test/{action}", headers=h)
        assert hidden.status_code == 404, action
    too_long = await client.post(
        f"/api/v1/accounts/{USER}/revoke-sessions", json={"reason": "x" * 501}, headers=h
    )
    assert too_long.status_code == 422


async def test_console_session_needs_the_csrf_header(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = await world.services.identity.sign_in(
        "admin@a.test", PASSWORD, source_ip="192.0.2.9", user_agent="UA"
    )
    client.cookies.set("__Host-mailgate_session", admin.token)
    refused = await client.post(f"/api/v1/accounts/{USER}/revoke-sessions")
    assert refused.status_code == 403
    allowed = await client.post(
        f"/api/v1/accounts/{USER}/revoke-sessions", headers={"X-CSRF-Token": admin.csrf}
    )
    assert allowed.status_code == 200
