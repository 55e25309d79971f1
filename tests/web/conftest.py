"""Fixtures for the web tests: the real app over httpx's ASGI transport, and a small world of
two organisations with their admins and API tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import settle_alerts

from mailgate.domain.access import Actor, Role
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.hashing import Argon2Hasher
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

BASE_URL = "https://testserver"
PASSWORD = "correct horse battery staple"
FAST_HASHER = Argon2Hasher(time_cost=1, memory_cost_kib=8192, parallelism=1)


@pytest.fixture
def app(services: Services, tmp_path: Path) -> FastAPI:
    return create_app(services, Settings(data_dir=tmp_path / "data"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield c


@pytest.fixture
async def sqlite_services(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """Services on SQLite only, for the console tests."""
    db = open_database(sqlite_url, pool_size=5)
    await upgrade(db)
    blobs = FileBlobStore(tmp_path / "blobs")
    yield Services.build(SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, blobs)
    await settle_alerts()
    await db.dispose()


@dataclass(slots=True)
class World:
    """Organisations alpha (a.test) and beta (b.test), each with objects of every kind."""

    services: Services
    root: Actor
    root_token: str
    alpha_admin_token: str
    alpha_helpdesk_token: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


ROSTER_CSV = (
    "employee_id,name_zh,name_latin,org_unit,employment_type,region,start_date\n"
    "{p}001,张伟,Zhang Wei,研发中心/平台部,full_time,,2021-03-01\n"
    "{p}002,王芳,Wang Fang,市场部,part_time,,2022-07-15\n"
)


async def _org(services: Services, root: Actor, slug: str, domain: str) -> None:
    await services.organisations.create(root, slug, f"{slug.title()} Corp", account_pool_limit=20)
    await services.organisations.add_domain(root, slug, domain)
    await services.accounts.create(root, f"user@{domain}", password=PASSWORD, skip_first_login=True)
    await services.routes.add_alias(root, f"info@{domain}", [f"user@{domain}"])
    await services.routes.create_group(root, f"team@{domain}", "Team")
    csv = ROSTER_CSV.format(p=slug[0].upper())
    await services.roster.import_csv(root, slug, csv.encode())


async def _admin(services: Services, root: Actor, address: str, role: Role, org: str) -> str:
    await services.accounts.create(root, address, password=PASSWORD, skip_first_login=True)
    await services.accounts.grant_role(root, address, role, org)
    actor = await services.identity.act_as(address)
    return await services.identity.create_api_token(actor, address, "tests")


async def build_world(services: Services, root: Actor) -> World:
    await _org(services, root, "alpha", "a.test")
    await _org(services, root, "beta", "b.test")
    await services.setup.create_platform_admin(root, "root@platform.test", PASSWORD)
    platform = await services.identity.act_as("root@platform.test")
    root_token = await services.identity.create_api_token(platform, "root@platform.test", "t")
    return World(
        services=services,
        root=root,
        root_token=root_token,
        alpha_admin_token=await _admin(services, root, "admin@a.test", Role.ORG_ADMIN, "alpha"),
        alpha_helpdesk_token=await _admin(services, root, "desk@a.test", Role.HELPDESK, "alpha"),
    )


@pytest.fixture
async def world(services: Services, root: Actor) -> World:
    return await build_world(services, root)
