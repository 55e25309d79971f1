"""The scope matrix over the API: an organisation admin of alpha can neither see nor change
anything of beta, on every list, read, create and update endpoint; the helpdesk may unlock
but not create."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import World

BETA_CSV = "employee_id,name_zh,org_unit,employment_type\nB999,入侵者,研发中心,full_time\n"

# (method, path, body): every way to read or change one of beta's objects.
BETA_TARGETS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/organisations/beta", None),
    ("PATCH", "/api/v1/organisations/beta", {"name": "Taken over"}),
    ("POST", "/api/v1/organisations", {"slug": "evil", "name": "Evil"}),
    ("GET", "/api/v1/organisations/beta/domains", None),
    ("GET", "/api/v1/domains?org=beta", None),
    ("POST", "/api/v1/organisations/beta/domains", {"name": "evil.test"}),
    ("POST", "/api/v1/organisations/alpha/domains", {"name": "evil.test"}),
    ("GET", "/api/v1/roster?org=beta", None),
    ("POST", "/api/v1/organisations/beta/roster", BETA_CSV),
    ("GET", "/api/v1/accounts?org=beta", None),
    ("GET", "/api/v1/accounts/user@b.test", None),
    ("POST", "/api/v1/accounts", {"address": "new@b.test", "password": "x" * 12}),
    ("POST", "/api/v1/accounts/user@b.test/state", {"action": "lock"}),
    ("POST", "/api/v1/accounts/user@b.test/state", {"action": "disable"}),
    ("GET", "/api/v1/aliases?org=beta", None),
    ("POST", "/api/v1/aliases", {"address": "evil@b.test", "targets": ["user@a.test"]}),
    ("DELETE", "/api/v1/aliases/info@b.test", None),
    ("GET", "/api/v1/groups?org=beta", None),
    ("POST", "/api/v1/groups", {"address": "evil@b.test", "name": "Evil"}),
    ("POST", "/api/v1/groups/team@b.test/members", {"address": "user@a.test"}),
]

# (list path, field naming the organisation or address, what marks beta's objects)
LISTS: list[tuple[str, str, str]] = [
    ("/api/v1/organisations", "slug", "beta"),
    ("/api/v1/domains", "organisation", "beta"),
    ("/api/v1/roster", "organisation", "beta"),
    ("/api/v1/accounts", "organisation", "beta"),
    ("/api/v1/aliases", "organisation", "beta"),
    ("/api/v1/groups", "organisation", "beta"),
]


async def _send(
    client: httpx.AsyncClient, token: str, method: str, path: str, body: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if isinstance(body, str):
        headers["Content-Type"] = "text/csv"
        return await client.request(method, path, content=body.encode(), headers=headers)
    return await client.request(method, path, json=body, headers=headers)


def _items(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    return list(body["items"] if isinstance(body, dict) else body)


async def _beta_snapshot(client: httpx.AsyncClient, world: World) -> list[Any]:
    """Everything of beta as the platform admin sees it."""
    return [
        _items(await _send(client, world.root_token, "GET", f"{path}?org=beta", None))
        if path != "/api/v1/organisations"
        else [
            o
            for o in _items(await _send(client, world.root_token, "GET", path, None))
            if o["slug"] == "beta"
        ]
        for path, _, _ in LISTS
    ]


@pytest.mark.parametrize(("method", "path", "body"), BETA_TARGETS)
async def test_org_admin_cannot_touch_another_organisation(
    client: httpx.AsyncClient, world: World, method: str, path: str, body: Any
) -> None:
    before = await _beta_snapshot(client, world)
    response = await _send(client, world.alpha_admin_token, method, path, body)
    assert response.status_code in (403, 404), response.text
    assert response.json()["error"] in ("not_found", "permission_denied")
    assert await _beta_snapshot(client, world) == before


@pytest.mark.parametrize(("path", "field", "beta"), LISTS)
async def test_lists_hold_only_the_admins_organisation(
    client: httpx.AsyncClient, world: World, path: str, field: str, beta: str
) -> None:
    mine = _items(await _send(client, world.alpha_admin_token, "GET", path, None))
    assert mine, "alpha's admin sees alpha's objects"
    assert all(item[field] == "alpha" for item in mine)
    everything = _items(await _send(client, world.root_token, "GET", path, None))
    assert any(item[field] == beta for item in everything), "beta's objects exist"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/organisations/alpha", None, 200),
        ("PATCH", "/api/v1/organisations/alpha", {"helpdesk_contact": "分机 8000"}, 200),
        ("PATCH", "/api/v1/organisations/alpha", {"account_pool_limit": 999}, 403),
        ("POST", "/api/v1/organisations/alpha/roster", BETA_CSV, 200),
        ("POST", "/api/v1/accounts", {"address": "new@a.test"}, 201),
        ("POST", "/api/v1/accounts/user@a.test/state", {"action": "lock"}, 200),
        ("POST", "/api/v1/aliases", {"address": "x@a.test", "targets": ["user@a.test"]}, 201),
        ("POST", "/api/v1/groups/team@a.test/members", {"address": "user@a.test"}, 200),
    ],
)
async def test_org_admin_manages_own_organisation(
    client: httpx.AsyncClient, world: World, method: str, path: str, body: Any, status: int
) -> None:
    response = await _send(client, world.alpha_admin_token, method, path, body)
    assert response.status_code == status, response.text


async def test_helpdesk_can_unlock_but_not_create_or_lock(
    client: httpx.AsyncClient, world: World
) -> None:
    admin, desk = world.alpha_admin_token, world.alpha_helpdesk_token
    state = "/api/v1/accounts/user@a.test/state"
    assert (await _send(client, admin, "POST", state, {"action": "lock"})).status_code == 200
    unlocked = await _send(client, desk, "POST", state, {"action": "unlock"})
    assert unlocked.status_code == 200 and unlocked.json()["state"] == "active"
    assert (await _send(client, desk, "POST", state, {"action": "lock"})).status_code == 403
    create = await _send(client, desk, "POST", "/api/v1/accounts", {"address": "n@a.test"})
    assert create.status_code == 403
    assert create.json()["error"] == "permission_denied"
    alias = {"address": "n@a.test", "targets": ["user@a.test"]}
    assert (await _send(client, desk, "POST", "/api/v1/aliases", alias)).status_code == 403
    read = await _send(client, desk, "GET", "/api/v1/accounts", None)
    assert read.status_code == 200 and read.json()["total"] > 0
    beta = await _send(
        client, desk, "POST", "/api/v1/accounts/user@b.test/state", {"action": "unlock"}
    )
    assert beta.status_code == 404
