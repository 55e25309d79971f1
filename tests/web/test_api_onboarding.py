"""The ticket-system API: filing applications on someone's behalf with base64 documents, the
application's state, and the IT ticket list (JSON and CSV) — with bad, expired and foreign
tokens."""

from __future__ import annotations

import base64
import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from mailgate.domain.access import Role
from mailgate.domain.onboarding import MAX_UPLOAD
from mailgate.services.identity import token_hash
from mailgate.services.policies import SelectorSpec
from mailgate.storage.database import Database
from mailgate.storage.tables import api_tokens

from .conftest import PASSWORD, World

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
URL = "/api/v1/organisations/alpha/applications"


@pytest.fixture
async def desk(world: World) -> str:
    """A ticket entry for alpha, and the token of alpha's ticket system (a helpdesk role)."""
    s, root = world.services, world.root
    await s.entry_points.add(root, "alpha", "alpha-desk", "ticket", "a.test")
    await s.policies.add(
        root, "alpha", "part-timers", position=1,
        selector=SelectorSpec(employment_type="part_time"), settings={"self_service": False},
    )  # fmt: skip
    await s.accounts.create(root, "ticketbot@a.test", password=PASSWORD, skip_first_login=True)
    await s.accounts.grant_role(root, "ticketbot@a.test", Role.HELPDESK, "alpha")
    bot = await s.identity.act_as("ticketbot@a.test")
    return await s.identity.create_api_token(bot, "ticketbot@a.test", "ticket system")


def zhang(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "employee_id": "A001",
        "name": "张伟",
        "department": "平台部",
        "purpose": "project mail",
        "contact_email": "user@a.test",
        "documents": [
            {
                "label": "work ID",
                "filename": "id.png",
                "content_base64": base64.b64encode(PNG).decode(),
            }
        ],
    }
    body.update(changes)
    return body


async def test_filing_an_application_for_someone(
    client: httpx.AsyncClient, world: World, desk: str
) -> None:
    filed = await client.post(URL, json=zhang(), headers=world.auth(desk))
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["outcome"] == "application" and body["ticket"] is None
    app = body["application"]
    assert app["employee_id"] == "A001" and app["roster_checks"] == ["match"]
    assert app["filed_by"] == "ticketbot@a.test" and app["organisation"] == "alpha"
    assert body["tracking_url"].startswith("https://localhost:8080/apply/track/")
    token = body["tracking_url"].rsplit("/", 1)[1]
    view = await world.services.applications.track(token)
    assert view.application.id == app["id"] and view.documents == (("work ID", "id.png"),)

    # The filer (and reviewers) can follow it; others of the organisation cannot see it.
    got = await client.get(f"{URL}/{app['id']}", headers=world.auth(desk))
    assert got.status_code == 200 and got.json()["state"] == app["state"]
    assert (
        await client.get(f"{URL}/{app['id']}", headers=world.auth(world.alpha_admin_token))
    ).status_code == 200
    hidden = await client.get(f"{URL}/{app['id']}", headers=world.auth(world.alpha_helpdesk_token))
    assert hidden.status_code == 404
    assert (await client.get(f"{URL}/99999", headers=world.auth(desk))).status_code == 404

    again = await client.post(URL, json=zhang(), headers=world.auth(desk))
    assert again.status_code == 409 and again.json()["error"] == "conflict"


async def test_not_eligible_gives_the_ticket_and_the_ticket_list(
    client: httpx.AsyncClient, world: World, desk: str
) -> None:
    wang = {"employee_id": "A002", "name": "王芳", "mobile": "+86 139 0000 0001"}
    filed = await client.post(URL, json=wang, headers=world.auth(desk))
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["outcome"] == "ticket" and body["application"] is None
    assert body["tracking_url"] is None
    ticket = body["ticket"]
    assert ticket["state"] == "open" and "part-timers" in ticket["reason"]
    assert "part-timers" in body["reasons"][0]
    assert ticket["details"]["filed_by"] == "ticketbot@a.test"

    tickets = "/api/v1/organisations/alpha/tickets"
    listed = await client.get(tickets, headers=world.auth(desk))
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["items"]] == [ticket["id"]]
    assert listed.json()["total"] == 1
    exported = await client.get(tickets, params={"format": "csv"}, headers=world.auth(desk))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [(r["id"], r["employee_id"], r["state"]) for r in rows] == [
        (str(ticket["id"]), "A002", "open")
    ]
    assert (
        await client.get(tickets, params={"state": "lost"}, headers=world.auth(desk))
    ).status_code == 422

    close = f"{tickets}/{ticket['id']}/close"
    assert (
        await client.post(close, json={"note": ""}, headers=world.auth(desk))
    ).status_code == 422
    closed = await client.post(close, json={"note": "made by hand"}, headers=world.auth(desk))
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["note"] == "made by hand"
    twice = await client.post(close, json={"note": "again"}, headers=world.auth(desk))
    assert twice.status_code == 409
    # Another organisation's path does not hold this ticket.
    beta = f"/api/v1/organisations/beta/tickets/{ticket['id']}/close"
    assert (
        await client.post(beta, json={"note": "x"}, headers=world.auth(world.root_token))
    ).status_code == 404
    assert (await client.get(tickets, params={"state": "closed"}, headers=world.auth(desk))).json()[
        "total"
    ] == 1


async def test_bad_expired_and_foreign_tokens(
    client: httpx.AsyncClient, world: World, desk: str, database: Database
) -> None:
    tickets = "/api/v1/organisations/alpha/tickets"
    for path, method in ((URL, "post"), (tickets, "get")):
        for headers in ({}, world.auth("mgt_guessed"), {"Authorization": "Basic eDp5"}):
            response = await client.request(method, path, json=zhang(), headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["error"] == "authentication_failed"

    # An expired token of the ticket system: refused although it was valid yesterday.
    s = world.services
    bot = await s.identity.act_as("ticketbot@a.test")
    old = await s.identity.create_api_token(bot, "ticketbot@a.test", "old", date(2099, 1, 1))
    assert (await client.get(tickets, headers=world.auth(old))).status_code == 200
    async with database.writer.begin() as conn:
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_hash == token_hash(old))
            .values(expires_on=date(2020, 1, 1))
        )
    for method, path in (("post", URL), ("get", tickets), ("get", f"{URL}/1")):
        expired = await client.request(method, path, json=zhang(), headers=world.auth(old))
        assert expired.status_code == 401

    # A token of another organisation does not see alpha at all.
    await s.accounts.create(world.root, "bot@b.test", password=PASSWORD, skip_first_login=True)
    await s.accounts.grant_role(world.root, "bot@b.test", Role.HELPDESK, "beta")
    beta_bot = await s.identity.act_as("bot@b.test")
    foreign = await s.identity.create_api_token(beta_bot, "bot@b.test", "beta system")
    for method, path in (("post", URL), ("get", tickets), ("get", f"{URL}/1")):
        response = await client.request(method, path, json=zhang(), headers=world.auth(foreign))
        assert response.status_code == 404, path
        assert response.json() == {
            "error": "not_found",
            "message": "there is no organisation 'alpha'",
        }
    # A role without the ticket list (reviewer) is refused it, but may file and follow.
    await s.accounts.create(world.root, "rev@a.test", password=PASSWORD, skip_first_login=True)
    await s.accounts.grant_role(world.root, "rev@a.test", Role.REVIEWER, "alpha")
    rev = await s.identity.create_api_token(
        await s.identity.act_as("rev@a.test"), "rev@a.test", "r"
    )
    assert (await client.get(tickets, headers=world.auth(rev))).status_code == 403


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"content_base64": "not base64!"}, "documents[0] (id.png): content_base64 is not valid"),
        ({"content_base64": "QUJ"}, "content_base64 is not valid base64"),  # no padding
        ({"content_base64": ""}, "id.png: the file is empty"),
        (
            {"content_base64": base64.b64encode(b"<html></html>").decode()},
            "id.png: only PDF, JPEG and PNG",
        ),
        (
            {"content_base64": "A" * ((MAX_UPLOAD + 2) // 3 * 4 + 4)},
            "the file is larger than 10 MiB",
        ),
    ],
)
async def test_base64_upload_errors(
    client: httpx.AsyncClient, world: World, desk: str, document: dict[str, str], message: str
) -> None:
    doc = {"label": "work ID", "filename": "id.png", **document}
    response = await client.post(URL, json=zhang(documents=[doc]), headers=world.auth(desk))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert message in response.json()["message"]


async def test_body_limits_and_shape(client: httpx.AsyncClient, world: World, desk: str) -> None:
    h = world.auth(desk)
    huge = b"{" + b" " * (41 * 1024 * 1024) + b"}"
    response = await client.post(
        URL, content=huge, headers={**h, "content-type": "application/json"}
    )
    assert response.status_code == 422 and "larger than" in response.json()["message"]
    unknown = await client.post(URL, json=zhang(colour="red"), headers=h)
    assert unknown.status_code == 422 and "colour" in unknown.json()["message"]
    eleven = [{"filename": f"{i}.png", "content_base64": ""} for i in range(11)]
    assert (await client.post(URL, json=zhang(documents=eleven), headers=h)).status_code == 422
    missing = await client.post(URL, json={"employee_id": "A001", "contact_email": "user@a.test"},
                                headers=h)  # fmt: skip
    assert missing.status_code == 422 and missing.json()["error"] == "missing_fields"
    assert "purpose" in missing.json()["message"]


async def test_no_ticket_entry_and_openapi(client: httpx.AsyncClient, world: World) -> None:
    # alpha without a ticket entry: the admin's token is told how to add one.
    response = await client.post(URL, json=zhang(), headers=world.auth(world.alpha_admin_token))
    assert response.status_code == 404 and "mailgate entry add" in response.json()["message"]
    spec = (await client.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    assert "post" in paths["/api/v1/organisations/{slug}/applications"]
    assert "get" in paths["/api/v1/organisations/{slug}/applications/{application_id}"]
    assert "get" in paths["/api/v1/organisations/{slug}/tickets"]
    assert "post" in paths["/api/v1/organisations/{slug}/tickets/{ticket_id}/close"]
    assert "ApplicationIn" in spec["components"]["schemas"]
