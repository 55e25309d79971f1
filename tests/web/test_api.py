"""The JSON API: health, OpenAPI, create/list/update of every object type, error mapping."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from mailgate.storage.database import Database

from .conftest import PASSWORD, World


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_openapi_lists_the_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/organisations": {"get", "post"},
        "/api/v1/organisations/{slug}": {"get", "patch"},
        "/api/v1/domains": {"get"},
        "/api/v1/organisations/{slug}/domains": {"get", "post"},
        "/api/v1/roster": {"get"},
        "/api/v1/organisations/{slug}/roster": {"post"},
        "/api/v1/accounts": {"get", "post"},
        "/api/v1/accounts/{address}": {"get"},
        "/api/v1/accounts/{address}/state": {"post"},
        "/api/v1/aliases": {"get", "post"},
        "/api/v1/aliases/{address}": {"delete"},
        "/api/v1/groups": {"get", "post"},
        "/api/v1/groups/{address}/members": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert not any(p.startswith("/admin") for p in paths)
    roster_body = paths["/api/v1/organisations/{slug}/roster"]["post"]["requestBody"]
    assert {"text/csv", "multipart/form-data"} <= set(roster_body["content"])


async def test_unauthenticated_and_bad_token(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/v1/organisations")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "authentication_failed"
    bad = await client.get("/api/v1/organisations", headers=world.auth("mgt_nope"))
    assert bad.status_code == 401


async def test_organisations_crud(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.root_token)
    created = await client.post(
        "/api/v1/organisations",
        json={
            "slug": "gamma",
            "name": "Gamma 有限公司",
            "account_pool_limit": 5,
            "default_quota": "1GiB",
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    assert created.json()["default_quota"] == 1024**3
    listed = await client.get("/api/v1/organisations", headers=h)
    assert {"alpha", "beta", "gamma"} <= {o["slug"] for o in listed.json()}
    patched = await client.patch(
        "/api/v1/organisations/gamma",
        json={"name": "Gamma Ltd", "account_pool_limit": None},
        headers=h,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Gamma Ltd"
    assert patched.json()["account_pool_limit"] is None
    again = await client.post(
        "/api/v1/organisations", json={"slug": "gamma", "name": "x"}, headers=h
    )
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"


async def test_domains(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.root_token)
    added = await client.post(
        "/api/v1/organisations/alpha/domains", json={"name": "例子.测试"}, headers=h
    )
    assert added.status_code == 201, added.text
    assert added.json()["ascii"].startswith("xn--")
    listed = await client.get("/api/v1/organisations/alpha/domains", headers=h)
    assert {d["name"] for d in listed.json()} == {"a.test", "例子.测试"}
    all_domains = await client.get("/api/v1/domains", headers=h)
    assert {"a.test", "b.test"} <= {d["name"] for d in all_domains.json()}


async def test_roster_import_csv_and_multipart(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.alpha_admin_token)
    csv = (
        "employee_id,name_zh,name_latin,org_unit,employment_type\n"
        "A100,李娜,Li Na,财务部,full_time\n"
        "A101,,,财务部,full_time\n"
        "A102,赵敏,Zhao Min,财务部,astronaut\n"
    )
    response = await client.post(
        "/api/v1/organisations/alpha/roster",
        content=csv.encode(),
        headers=h | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1
    assert [(r["line"], r["employee_id"]) for r in report["rejected"]] == [(3, "A101"), (4, "A102")]
    assert "employment_type" in report["rejected"][1]["reason"]
    upload = await client.post(
        "/api/v1/organisations/alpha/roster",
        headers=h,
        files={"file": ("roster.csv", csv.encode("utf-8-sig"), "text/csv")},
    )
    assert upload.status_code == 200
    assert upload.json()["created"] == 0 and upload.json()["unchanged"] == 1
    found = await client.get("/api/v1/roster", params={"q": "李娜"}, headers=h)
    assert [e["employee_id"] for e in found.json()["items"]] == ["A100"]
    assert found.json()["items"][0]["org_unit"] == "财务部"


async def test_roster_gbk_and_missing_column(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.root_token) | {"Content-Type": "text/csv"}
    gbk = "employee_id,name_zh,org_unit,employment_type\nX1,张伟,研发中心,full_time\n"
    response = await client.post(
        "/api/v1/organisations/alpha/roster", content=gbk.encode("gbk"), headers=h
    )
    assert response.status_code == 422
    assert "GBK" in response.json()["message"]
    response = await client.post(
        "/api/v1/organisations/alpha/roster", content=b"employee_id,name_zh\nX1,a\n", headers=h
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_roster"


async def test_roster_paging(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.root_token)
    page = await client.get("/api/v1/roster", params={"limit": 1, "offset": 1}, headers=h)
    body = page.json()
    assert body["total"] == 4 and len(body["items"]) == 1 and body["offset"] == 1
    bad = await client.get("/api/v1/roster", params={"limit": 0}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_input"


async def test_accounts_crud_and_state(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.alpha_admin_token)
    created = await client.post(
        "/api/v1/accounts",
        json={
            "address": "Li.Na@a.test",
            "display_name": "李娜",
            "password": PASSWORD,
            "skip_first_login": True,
            "quota": "500MiB",
            "expires_on": "2099-12-31",
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "active"
    assert created.json()["organisation"] == "alpha"
    one = await client.get(f"/api/v1/accounts/{quote('li.na@a.test')}", headers=h)
    assert one.status_code == 200 and one.json()["display_name"] == "李娜"
    locked = await client.post(
        "/api/v1/accounts/li.na@a.test/state", json={"action": "lock"}, headers=h
    )
    assert locked.json()["state"] == "locked"
    listed = await client.get("/api/v1/accounts", params={"state": "locked"}, headers=h)
    assert [a["address"] for a in listed.json()["items"]] == ["Li.Na@a.test"]
    searched = await client.get("/api/v1/accounts", params={"q": "li.na"}, headers=h)
    assert searched.json()["total"] == 1
    wrong = await client.post(
        "/api/v1/accounts/li.na@a.test/state", json={"action": "reinstate"}, headers=h
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "invalid_transition"
    unknown = await client.post(
        "/api/v1/accounts/li.na@a.test/state", json={"action": "fly"}, headers=h
    )
    assert unknown.status_code == 422


async def test_aliases_crud(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.alpha_admin_token)
    added = await client.post(
        "/api/v1/aliases", json={"address": "sales@a.test", "targets": ["user@a.test"]}, headers=h
    )
    assert added.status_code == 201, added.text
    listed = await client.get("/api/v1/aliases", headers=h)
    assert {"sales@a.test", "info@a.test"} == {a["address"] for a in listed.json()}
    removed = await client.delete("/api/v1/aliases/sales@a.test", headers=h)
    assert removed.status_code == 204
    gone = await client.delete("/api/v1/aliases/sales@a.test", headers=h)
    assert gone.status_code == 404


async def test_groups_crud(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.alpha_admin_token)
    made = await client.post(
        "/api/v1/groups", json={"address": "all@a.test", "name": "全体员工"}, headers=h
    )
    assert made.status_code == 201, made.text
    member = await client.post(
        "/api/v1/groups/all@a.test/members", json={"address": "user@a.test"}, headers=h
    )
    assert member.status_code == 200
    assert member.json()["members"] == ["user@a.test"]
    listed = await client.get("/api/v1/groups", headers=h)
    assert {"all@a.test", "team@a.test"} == {g["address"] for g in listed.json()}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"address": "user@a.test"}, 409, "address_taken"),
        ({"address": "USER@a.test"}, 409, "address_taken"),
        ({"address": "info@a.test"}, 409, "address_taken"),
        ({"address": "x@nowhere.test"}, 409, "domain_not_owned"),
        ({"address": "x@pаypal.test"}, 422, "invalid_address"),
        ({"address": "not an address"}, 422, "invalid_address"),
        ({"address": "x@a.test", "quota": "lots"}, 422, "invalid_input"),
    ],
)
async def test_account_errors(
    client: httpx.AsyncClient, world: World, body: dict[str, str], status: int, code: str
) -> None:
    response = await client.post(
        "/api/v1/accounts", json=body, headers=world.auth(world.root_token)
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


async def test_invalid_idn_domain(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/v1/organisations/alpha/domains",
        json={"name": "pаypal.test"},
        headers=world.auth(world.root_token),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_domain"


async def test_pool_exhausted(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth(world.root_token)
    await client.post(
        "/api/v1/organisations",
        json={"slug": "tiny", "name": "Tiny", "account_pool_limit": 1},
        headers=h,
    )
    await client.post("/api/v1/organisations/tiny/domains", json={"name": "tiny.test"}, headers=h)
    first = await client.post("/api/v1/accounts", json={"address": "a@tiny.test"}, headers=h)
    assert first.status_code == 201
    second = await client.post("/api/v1/accounts", json={"address": "b@tiny.test"}, headers=h)
    assert second.status_code == 409
    assert second.json()["error"] == "pool_exhausted"
    listed = await client.get("/api/v1/accounts", params={"org": "tiny"}, headers=h)
    assert listed.json()["total"] == 1


async def test_unexpected_error_is_500_with_reference_only(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    async with database.writer.begin() as conn:
        await conn.execute(text("ALTER TABLE aliases RENAME TO aliases_moved"))
    response = await client.get("/api/v1/aliases", headers=world.auth(world.root_token))
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert "aliases" not in body["message"] and "table" not in body["message"].lower()
