"""policy commands: the ordered rules that decide a person's settings (domain.policy)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.domain.errors import InvalidInput
from mailgate.domain.policy import SETTINGS
from mailgate.domain.units import parse_size
from mailgate.services.container import Services
from mailgate.services.policies import SelectorSpec, describe

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help='KEY=VALUE, repeatable. VALUE is JSON (true, 15, ["totp"]) or a plain word; '
        "quota takes sizes like 2G. Keys: " + ", ".join(SETTINGS),
    ),
]


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """`["quota=2G", "self_service=false", "approval_chain=supervisor,it"]` -> settings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set takes KEY=VALUE, not {item!r}")
        if key == "quota":
            out[key] = parse_size(text)
            continue
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text.strip()
    return out


def register(app: typer.Typer) -> None:
    policy = typer.Typer(
        help="Policies: ordered rules deciding eligibility, approvals, 2FA, quota, passwords.",
        no_args_is_help=True,
    )
    app.add_typer(policy, name="policy")

    @policy.command("list")
    def list_(
        ctx: typer.Context, org: Annotated[str, typer.Option(help="Organisation slug.")]
    ) -> None:
        """The organisation's policies in the order they are applied (first match wins)."""

        async def work(services: Services, actor: Actor) -> None:
            rows = [describe(p) for p in await services.policies.list(actor, org)]
            emit(state(ctx).json, rows, ["position", "name", "enabled", "selector", "settings"])

        run(ctx, work)

    @policy.command("add")
    def add(
        ctx: typer.Context,
        name: str,
        org: Annotated[str, typer.Option(help="Organisation slug.")],
        position: Annotated[int, typer.Option(help="Lower positions are applied first.")],
        unit: Annotated[str | None, typer.Option(help="Org-unit path: the unit and below.")] = None,
        job: Annotated[str | None, typer.Option("--position-name", help="Position name.")] = None,
        region: Annotated[str | None, typer.Option(help="Region code.")] = None,
        employment_type: Annotated[str | None, typer.Option(help="full_time, intern ...")] = None,
        entry_point: Annotated[str | None, typer.Option(help="portal, ticket, partner.")] = None,
        set_: SetOption = None,
        require: Annotated[
            list[str] | None, typer.Option(help="Eligibility condition: roster_active ...")
        ] = None,
        description: Annotated[str, typer.Option(help="Why this rule exists.")] = "",
    ) -> None:
        """Add a policy for the people its selector matches (every option narrows it)."""

        async def work(services: Services, actor: Actor) -> None:
            p = await services.policies.add(
                actor,
                org,
                name,
                position=position,
                selector=SelectorSpec(unit, job, region, employment_type, entry_point),
                settings=parse_assignments(set_),
                require=require or [],
                description=description,
            )
            emit_one(state(ctx).json, describe(p))

        run(ctx, work)

    @policy.command("set")
    def set_command(
        ctx: typer.Context,
        name: str,
        org: Annotated[str, typer.Option(help="Organisation slug.")],
        set_: SetOption = None,
        unset: Annotated[list[str] | None, typer.Option(help="Setting to drop.")] = None,
        position: Annotated[int | None, typer.Option(help="Move the policy.")] = None,
        enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
        rename: Annotated[str | None, typer.Option(help="New name.")] = None,
    ) -> None:
        """Change a policy's settings, position, state or name."""

        async def work(services: Services, actor: Actor) -> None:
            p = await services.policies.change(
                actor,
                org,
                name,
                settings=parse_assignments(set_),
                unset=unset or [],
                position=position,
                enabled=enabled,
                new_name=rename,
            )
            emit_one(state(ctx).json, describe(p))

        run(ctx, work)

    @policy.command("remove")
    def remove(
        ctx: typer.Context, name: str, org: Annotated[str, typer.Option(help="Organisation.")]
    ) -> None:
        """Delete a policy (audited with its content)."""

        async def work(services: Services, actor: Actor) -> None:
            await services.policies.remove(actor, org, name)
            emit_one(state(ctx).json, {"removed": name})

        run(ctx, work)

    @policy.command("explain")
    def explain(
        ctx: typer.Context,
        org: Annotated[str, typer.Option(help="Organisation slug.")],
        employee_id: Annotated[str, typer.Option(help="Employee ID in the roster.")],
        entry_point: Annotated[str | None, typer.Option(help="portal, ticket, partner.")] = None,
    ) -> None:
        """Every setting for one person, and the policy (or default) that decided it."""

        async def work(services: Services, actor: Actor) -> None:
            r = await services.policies.explain(actor, org, employee_id, entry_point)
            rows = [
                {"setting": k, "value": list(v) if isinstance(v, tuple) else v, "decided_by": d}
                for k, v, d in r.explain()
            ]
            refusals = [f"{name}: {cond.value}" for name, cond in r.refusals]
            emit(
                state(ctx).json,
                rows,
                ["setting", "value", "decided_by"],
                extra={
                    "matched": list(r.matched),
                    "eligible_for_self_service": r.eligible,
                    "failed_conditions": refusals,
                },
            )

        run(ctx, work)
