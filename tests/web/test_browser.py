"""The console in a real browser: the app under uvicorn on an ephemeral loopback port, Debian's
Chromium driven by Playwright. Sign in with the demo's admin password, open the roster, switch
between the three languages."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

from .conftest import FAST_HASHER

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.browser


class _Server(uvicorn.Server):
    """uvicorn that signals the test thread once `started` is true (no polling, no sleeps)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


@dataclass(slots=True)
class LiveServer:
    url: str
    admin: str
    password: str


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"

    async def seed() -> tuple[str, str]:
        db = open_database(db_url, pool_size=2)
        try:
            await upgrade(db)
            services = Services.build(
                SqlUnitOfWorkFactory(db),
                SystemClock(),
                FAST_HASHER,
                FileBlobStore(tmp_path / "blobs"),
            )
            return await services.setup.seed_demo()
        finally:
            await db.dispose()

    admin, password = asyncio.run(seed())
    ready = threading.Event()
    holder: dict[str, _Server] = {}

    async def serve() -> None:
        db = open_database(db_url, pool_size=5)
        services = Services.build(
            SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, FileBlobStore(tmp_path / "blobs")
        )
        app = create_app(services, Settings(data_dir=tmp_path / "data"))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = holder["server"] = _Server(config, ready)
        try:
            await server.serve()
        finally:
            await db.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(timeout=30), "uvicorn did not start"
    server = holder["server"]
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", admin, password)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_sign_in_and_read_the_roster_in_three_languages(
    live_server: LiveServer, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/admin/roster")
            expect(page.locator("h1")).to_have_text("Sign in to Mailgate")
            page.screenshot(path=tmp_path / "signin.png")
            page.fill("input[name=address]", live_server.admin)
            page.fill("input[name=password]", live_server.password)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/roster")
            cookies = {c["name"]: c for c in context.cookies()}
            session = cookies["__Host-mailgate_session"]
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
            expect(page.locator("h1")).to_have_text("Roster")

            page.click("a.lang:has-text('简体中文')")
            expect(page.locator("h1")).to_have_text("花名册")
            expect(page.locator("table")).to_contain_text("王伟")
            expect(page.locator("table")).to_contain_text("研发中心/平台部")
            expect(page.locator("table")).to_contain_text("北京")
            expect(page.locator("thead")).to_contain_text("工号")
            page.screenshot(path=tmp_path / "roster-zh_Hans.png", full_page=True)

            page.click("a.lang:has-text('繁體中文')")
            expect(page.locator("h1")).to_have_text("員工名冊")
            expect(page.locator("thead")).to_contain_text("員工編號")
            expect(page.locator("nav.sidebar")).to_contain_text("帳號")

            page.fill("input[name=q]", "王伟")
            page.click("form.toolbar button[type=submit]")
            expect(page.locator("tbody tr")).to_have_count(1)
            expect(page.locator("tbody")).to_contain_text("E10001")
            page.screenshot(path=tmp_path / "roster-zh_Hant.png", full_page=True)

            page.click("a.lang:has-text('English')")
            expect(page.locator("h1")).to_have_text("Roster")
            page.goto(f"{live_server.url}/admin/accounts")
            expect(page.locator("h1")).to_have_text("Accounts")

            page.click("a.lang:has-text('繁體中文')")
            other = context.new_page()
            other.goto(f"{live_server.url}/admin/organisations")
            expect(other.locator("h1")).to_have_text("組織")
        finally:
            browser.close()
