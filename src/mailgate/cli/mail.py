"""mailbox list, mailbox gc: look into a mail store folder, collect unreferenced blobs."""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.output import emit
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.services.container import Services


def register(app: typer.Typer) -> None:
    mailbox = typer.Typer(
        help="The mail store: messages and blob garbage collection.", no_args_is_help=True
    )
    app.add_typer(mailbox, name="mailbox")

    @mailbox.command("list")
    def mailbox_list(
        ctx: typer.Context,
        address: Annotated[str, typer.Argument(help="The account's address.")],
        folder: Annotated[str, typer.Option(help="Folder name.")] = "INBOX",
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Messages of one folder, oldest first (audited as an inspection of the mailbox)."""

        async def work(services: Services, actor: Actor) -> None:
            found, total = await services.mailstore.messages(actor, address, folder, offset, limit)
            rows = [
                {
                    "uid": m.uid,
                    "date": m.internal_date.strftime("%Y-%m-%d %H:%M:%S"),
                    "size": m.size,
                    "from": m.headers.from_,
                    "subject": m.headers.subject,
                    "message_id": m.headers.message_id,
                    "blob": m.blob_id,
                }
                for m in found
            ]
            emit(
                state(ctx).json,
                rows,
                ["uid", "date", "size", "from", "subject"],
                title=f"{address} {folder}",
                extra={"total": total},
            )

        run(ctx, work)

    @mailbox.command("gc")
    def mailbox_gc(
        ctx: typer.Context,
        grace: Annotated[
            float,
            typer.Option(help="Leave blob files younger than this many seconds alone."),
        ] = 3600.0,
    ) -> None:
        """Remove message bodies nothing refers to, and files a crash left without metadata."""

        async def work(services: Services, actor: Actor) -> None:
            report = await services.mailstore.collect_garbage(actor, grace_seconds=grace)
            emit(
                state(ctx).json,
                [{"unreferenced": report.unreferenced, "orphans": report.orphans}],
                ["unreferenced", "orphans"],
            )

        run(ctx, work)
