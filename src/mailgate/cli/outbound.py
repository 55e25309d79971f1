"""queue commands (the outbound queue) and `domain dns` (records to publish for a domain)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.domain.queue import QueueItem
from mailgate.services.container import Services


def _row(item: QueueItem) -> dict[str, Any]:
    errors = [r.last_error for r in item.recipients if r.last_error and not r.state.final]
    errors = errors or [r.last_error for r in item.recipients if r.last_error]
    return {
        "id": item.id,
        "from": item.mail_from or "<>",
        "recipients": ", ".join(r.address for r in item.recipients),
        "state": item.state.value,
        "attempts": max((r.attempts for r in item.recipients), default=0),
        "next_attempt": item.next_attempt,
        "created": item.created_at,
        "size": item.size,
        "last_error": errors[0] if errors else "",
    }


def _detail(item: QueueItem) -> dict[str, Any]:
    row = _row(item)
    row["per_recipient"] = [
        {
            "address": r.address,
            "state": r.state.value,
            "attempts": r.attempts,
            "next_attempt": r.next_attempt,
            "status": r.status,
            "last_error": r.last_error,
        }
        for r in item.recipients
    ]
    return row


def register(app: typer.Typer) -> None:
    queue = typer.Typer(help="The outbound mail queue.", no_args_is_help=True)
    app.add_typer(queue, name="queue")

    @queue.command("list")
    def queue_list(
        ctx: typer.Context,
        include_done: Annotated[
            bool, typer.Option("--all", help="Also delivered and bounced messages.")
        ] = False,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Messages waiting to leave (of the organisations you manage)."""

        async def work(services: Services, actor: Actor) -> None:
            items, total = await services.outbound.list(actor, include_done, offset, limit)
            emit(
                state(ctx).json,
                [_detail(i) if state(ctx).json else _row(i) for i in items],
                ["id", "from", "recipients", "state", "attempts", "next_attempt", "last_error"],
                extra={"total": total},
            )

        run(ctx, work)

    @queue.command("retry")
    def queue_retry(
        ctx: typer.Context, item_id: Annotated[int, typer.Argument(metavar="ID")]
    ) -> None:
        """Try a deferred message again at the next pass of the worker."""

        async def work(services: Services, actor: Actor) -> None:
            item = await services.outbound.retry(actor, item_id)
            emit_one(state(ctx).json, {"id": item.id, "retry": "scheduled now"})

        run(ctx, work)

    @queue.command("delete")
    def queue_delete(
        ctx: typer.Context, item_id: Annotated[int, typer.Argument(metavar="ID")]
    ) -> None:
        """Remove a message from the queue; no bounce is sent."""

        async def work(services: Services, actor: Actor) -> None:
            await services.outbound.delete(actor, item_id)
            emit_one(state(ctx).json, {"id": item_id, "deleted": True})

        run(ctx, work)

    domain = _group(app, "domain")

    @domain.command("dns")
    def domain_dns(
        ctx: typer.Context,
        name: str,
        host: Annotated[
            str | None,
            typer.Option(
                help="This server's public name (default: outbound.hostname, tls.hostname)."
            ),
        ] = None,
    ) -> None:
        """The MX, SPF, DKIM and DMARC records to publish for a domain."""
        settings = state(ctx).settings()
        mail_host = host or settings.outbound.hostname or settings.tls.hostname

        async def work(services: Services, actor: Actor) -> None:
            records = await services.dkim.records(actor, name, mail_host)
            rows = [{"type": r.type, "name": r.name, "value": r.value} for r in records]
            emit(state(ctx).json, rows, ["name", "type", "value"])

        run(ctx, work)


def _group(app: typer.Typer, name: str) -> typer.Typer:
    """An existing command group of `app` (registered by another module)."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    raise RuntimeError(f"the {name!r} command group must be registered first")
