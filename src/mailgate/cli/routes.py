"""alias and group commands."""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.services.container import Services

OrgFilter = Annotated[str | None, typer.Option("--org", help="Only this org.")]


def register(app: typer.Typer) -> None:
    alias = typer.Typer(help="Aliases: one address delivering to several.", no_args_is_help=True)
    group = typer.Typer(help="Groups (distribution lists).", no_args_is_help=True)
    app.add_typer(alias, name="alias")
    app.add_typer(group, name="group")

    @alias.command("add")
    def alias_add(ctx: typer.Context, address: str, targets: list[str]) -> None:
        """Create ADDRESS delivering to every TARGET."""

        async def work(services: Services, actor: Actor) -> None:
            a = await services.routes.add_alias(actor, address, targets)
            emit_one(state(ctx).json, {"address": a.address, "targets": a.targets})

        run(ctx, work)

    @alias.command("remove")
    def alias_remove(ctx: typer.Context, address: str) -> None:
        """Remove an alias."""

        async def work(services: Services, actor: Actor) -> None:
            await services.routes.remove_alias(actor, address)
            emit_one(state(ctx).json, {"removed": address})

        run(ctx, work)

    @alias.command("list")
    def alias_list(ctx: typer.Context, org_slug: OrgFilter = None) -> None:
        """Aliases you may see."""

        async def work(services: Services, actor: Actor) -> None:
            rows = [
                {"address": a.address, "targets": ", ".join(a.targets)}
                for a in await services.routes.list_aliases(actor, org_slug)
            ]
            emit(state(ctx).json, rows, ["address", "targets"])

        run(ctx, work)

    @group.command("create")
    def group_create(
        ctx: typer.Context,
        address: str,
        name: Annotated[str, typer.Option(help="Display name.")] = "",
        send_policy: Annotated[
            str,
            typer.Option(help="Who may send: anyone, organisation, members or moderators."),
        ] = "organisation",
    ) -> None:
        """Create a distribution list."""

        async def work(services: Services, actor: Actor) -> None:
            g = await services.routes.create_group(actor, address, name, send_policy)
            emit_one(
                state(ctx).json,
                {"address": g.address, "name": g.name, "send_policy": g.send_policy.value},
            )

        run(ctx, work)

    @group.command("add-member")
    def group_add_member(ctx: typer.Context, group_address: str, member: str) -> None:
        """Add MEMBER (an address) to a group."""

        async def work(services: Services, actor: Actor) -> None:
            g = await services.routes.add_member(actor, group_address, member)
            emit_one(state(ctx).json, {"address": g.address, "members": g.members})

        run(ctx, work)

    @group.command("list")
    def group_list(ctx: typer.Context, org_slug: OrgFilter = None) -> None:
        """Groups you may see."""

        async def work(services: Services, actor: Actor) -> None:
            rows = [
                {
                    "address": g.address,
                    "name": g.name,
                    "send_policy": g.send_policy.value,
                    "members": ", ".join(g.members),
                }
                for g in await services.routes.list_groups(actor, org_slug)
            ]
            emit(state(ctx).json, rows, ["address", "name", "send_policy", "members"])

        run(ctx, work)
