"""account, role and token commands (`token create|list|revoke`: API tokens)."""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import out, read_secret_stdin, run, state
from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import Account, AccountAction
from mailgate.domain.ports import ApiTokenRecord
from mailgate.domain.units import format_size, parse_date, parse_size
from mailgate.services.container import Services

ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the audit log).")]


def account_row(a: Account) -> dict[str, object]:
    return {
        "address": a.address,
        "display_name": a.display_name,
        "state": a.state.value,
        "quota": format_size(a.quota),
        "expires_on": a.expires_on,
        "language": a.language,
        "time_zone": a.time_zone,
        "first_login_pending": [x.value for x in a.required_actions],
        "skipped_first_login": a.skipped_first_login,
        "created_at": a.created_at,
    }


def api_token_row(t: ApiTokenRecord) -> dict[str, object]:
    return {
        "handle": t.handle,
        "name": t.name,
        "created_at": t.created_at,
        "expires_on": t.expires_on,
    }


def _state_command(group: typer.Typer, action: AccountAction, doc: str) -> None:
    def command(ctx: typer.Context, address: str, reason: ReasonOpt = "") -> None:
        async def work(services: Services, actor: Actor) -> None:
            a = await services.accounts.change_state(actor, address, action, reason=reason)
            emit_one(state(ctx).json, {"address": a.address, "state": a.state.value})

        run(ctx, work)

    command.__doc__ = doc
    group.command(action.value)(command)


def register(app: typer.Typer) -> None:
    account = typer.Typer(help="Mail accounts.", no_args_is_help=True)
    token = typer.Typer(help="Bearer tokens for the JSON API.", no_args_is_help=True)
    app.add_typer(account, name="account")
    app.add_typer(token, name="token")

    @account.command("create")
    def create(
        ctx: typer.Context,
        address: str,
        name: Annotated[str, typer.Option(help="Display name.")] = "",
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from stdin.")
        ] = False,
        skip_first_login: Annotated[
            bool,
            typer.Option(
                "--skip-first-login",
                help="Usable at once, without the forced first login (service accounts, "
                "migrations, tests). Needs --password-stdin. Audited as such.",
            ),
        ] = False,
        quota: Annotated[str | None, typer.Option(help="e.g. 2GiB; default: the org's.")] = None,
        expires: Annotated[str | None, typer.Option(help="End date, YYYY-MM-DD.")] = None,
        employee_id: Annotated[
            str | None, typer.Option(help="Link to this roster entry (工号).")
        ] = None,
        language: Annotated[str, typer.Option(help="zh_Hans, zh_Hant or en.")] = "zh_Hans",
        tz: Annotated[str, typer.Option("--tz", help="Time zone.")] = "Asia/Shanghai",
    ) -> None:
        """Create an account in a domain its organisation owns."""
        password = read_secret_stdin() if password_stdin else None
        quota_bytes = parse_size(quota) if quota else None
        expires_on = parse_date(expires, "expiry date") if expires else None

        async def work(services: Services, actor: Actor) -> None:
            a = await services.accounts.create(
                actor,
                address,
                display_name=name,
                password=password,
                skip_first_login=skip_first_login,
                quota=quota_bytes,
                expires_on=expires_on,
                employee_id=employee_id,
                language=language,
                time_zone=tz,
            )
            emit_one(state(ctx).json, account_row(a))

        run(ctx, work)

    @account.command("list")
    def list_(
        ctx: typer.Context,
        org_slug: Annotated[str | None, typer.Option("--org", help="Only this org.")] = None,
        search: Annotated[str, typer.Option(help="Address or name contains.")] = "",
        state_: Annotated[str | None, typer.Option("--state", help="Only this state.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Accounts you may see."""

        async def work(services: Services, actor: Actor) -> None:
            found, total = await services.accounts.search(
                actor, org_slug=org_slug, query=search, state=state_, offset=offset, limit=limit
            )
            emit(
                state(ctx).json,
                [account_row(a) for a in found],
                ["address", "display_name", "state", "quota", "expires_on"],
                extra={"total": total},
            )

        run(ctx, work)

    @account.command("show")
    def show(ctx: typer.Context, address: str) -> None:
        """One account."""

        async def work(services: Services, actor: Actor) -> None:
            emit_one(state(ctx).json, account_row(await services.accounts.get(actor, address)))

        run(ctx, work)

    @account.command("activation-code")
    def activation_code(ctx: typer.Context, address: str) -> None:
        """Issue a new activation code for an account pending activation; older codes stop
        working. From an application it goes only to the applicant's stated contact; for an
        account created by hand it is printed once, to hand over in person."""

        async def work(services: Services, actor: Actor) -> None:
            done = await services.activation_codes.reissue(actor, address)
            emit_one(
                state(ctx).json,
                {
                    "address": done.account.address,
                    "sent_to": ", ".join(done.sent_to),
                    "activation_code": done.code or None,
                    "activate_at": f"{services.activation_codes.portal_url}/activate",
                },
            )

        run(ctx, work)

    for action, doc in (
        (AccountAction.LOCK, "Lock an account (it cannot sign in until unlocked)."),
        (AccountAction.UNLOCK, "Unlock a locked account."),
        (AccountAction.SUSPEND, "Suspend an account (e.g. during an investigation)."),
        (AccountAction.REINSTATE, "Lift a suspension."),
        (AccountAction.DISABLE, "Disable an account; it no longer counts against the pool."),
        (AccountAction.ENABLE, "Enable a disabled account (the pool must have room)."),
        (AccountAction.EXPIRE, "Expire an account now."),
        (AccountAction.ACTIVATE, "Activate by hand, waiving the first login (audited)."),
    ):
        _state_command(account, action, doc)

    @account.command("reactivate")
    def reactivate(
        ctx: typer.Context,
        address: str,
        expires: Annotated[str, typer.Option(help="New end date, YYYY-MM-DD.")],
        reason: ReasonOpt = "",
    ) -> None:
        """Bring an expired account back, with a new end date."""
        new_expiry = parse_date(expires, "expiry date")

        async def work(services: Services, actor: Actor) -> None:
            a = await services.accounts.change_state(
                actor, address, AccountAction.REACTIVATE, reason=reason, new_expiry=new_expiry
            )
            emit_one(
                state(ctx).json,
                {"address": a.address, "state": a.state.value, "expires_on": a.expires_on},
            )

        run(ctx, work)

    @account.command("grant")
    def grant(
        ctx: typer.Context,
        address: str,
        role: Annotated[Role, typer.Argument(help="The role to grant.")],
        org_slug: Annotated[
            str | None, typer.Option("--org", help="Organisation (all roles but platform_admin).")
        ] = None,
    ) -> None:
        """Grant an admin role to an account."""

        async def work(services: Services, actor: Actor) -> None:
            await services.accounts.grant_role(actor, address, role, org_slug)
            emit_one(state(ctx).json, {"address": address, "role": role.value, "org": org_slug})

        run(ctx, work)

    @token.command("create")
    def token_create(
        ctx: typer.Context,
        address: str,
        name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
        expires: Annotated[str | None, typer.Option(help="End date, YYYY-MM-DD.")] = None,
    ) -> None:
        """Create an API token acting as ADDRESS (with its roles); printed once."""
        expires_on = parse_date(expires, "expiry date") if expires else None

        async def work(services: Services, actor: Actor) -> None:
            t = await services.identity.create_api_token(actor, address, name, expires_on)
            if state(ctx).json:
                emit_one(True, {"token": t})
            else:
                out.print(t, highlight=False)

        run(ctx, work)

    @token.command("list")
    def token_list(ctx: typer.Context, address: str) -> None:
        """API tokens of ADDRESS, expired ones too: name, dates and the handle to revoke one by
        (never the token)."""

        async def work(services: Services, actor: Actor) -> None:
            found = await services.api_tokens.list(actor, address)
            emit(
                state(ctx).json,
                [api_token_row(t) for t in found],
                ["handle", "name", "created_at", "expires_on"],
            )

        run(ctx, work)

    @token.command("revoke")
    def token_revoke(
        ctx: typer.Context,
        address: str,
        handle: Annotated[str, typer.Argument(help="The token's handle, from `token list`.")],
    ) -> None:
        """Revoke one API token of ADDRESS; calls with it are refused from now on."""

        async def work(services: Services, actor: Actor) -> None:
            gone = await services.api_tokens.revoke(actor, address, handle)
            emit_one(
                state(ctx).json, {"address": address, "revoked": gone.name, "handle": gone.handle}
            )

        run(ctx, work)
