"""What the CLI needs from the wiring. `mailgate.bootstrap` provides it; the CLI never builds
storage itself, so the layers stay pointed inward."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from mailgate.domain.access import Actor
from mailgate.domain.errors import MailgateError
from mailgate.services.container import Services
from mailgate.settings import Settings, load_settings

T = TypeVar("T")
# Piped output is read by scripts and tests: do not cut table cells at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class Runtime(Protocol):
    settings: Settings

    def services(self, *, migrate: bool = False) -> AbstractAsyncContextManager[Services]: ...
    async def upgrade_db(self) -> str: ...
    def ensure_tls(self) -> bool: ...
    async def serve(self, actor: Actor, demo: bool, announce: bool = True) -> None: ...


RuntimeFactory = Callable[[Settings], Runtime]


@dataclass(slots=True)
class CliState:
    factory: RuntimeFactory
    data_dir: Path | None
    config: Path | None
    act_as: str | None
    json: bool

    def settings(self) -> Settings:
        try:
            return load_settings(self.config, data_dir=self.data_dir)
        except (FileNotFoundError, ValidationError) as exc:
            fail(f"invalid configuration: {exc}", EXIT_USAGE)

    def runtime(self) -> Runtime:
        return self.factory(self.settings())


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)  # noqa: S101 - set by the root callback
    return obj


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


async def resolve_actor(st: CliState, services: Services) -> Actor:
    if st.act_as:
        return await services.identity.act_as(st.act_as, source_ip="local")
    return services.identity.local_operator(f"cli:{getpass.getuser()}")


def run(
    ctx: typer.Context,
    work: Callable[[Services, Actor], Awaitable[T]],
    *,
    migrate: bool = False,
) -> T:
    """Open the services, resolve the caller, run `work`; domain errors become exit code 1."""
    st = state(ctx)
    runtime = st.runtime()

    async def main() -> T:
        async with runtime.services(migrate=migrate) as services:
            actor = await resolve_actor(st, services)
            return await work(services, actor)

    try:
        return asyncio.run(main())
    except MailgateError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def read_secret_stdin() -> str:
    """A password from standard input: the first line, without its line ending."""
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        fail("no password on standard input")
    return password
