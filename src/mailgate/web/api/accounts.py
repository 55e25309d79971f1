"""Accounts, aliases and groups."""
# No "from __future__ import annotations": FastAPI must see the local CurrentActor alias.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountState
from mailgate.services.container import Services
from mailgate.web.api.auth import ActorDependency
from mailgate.web.api.models import (
    AccountIn,
    AccountOut,
    AccountPage,
    AliasIn,
    AliasOut,
    GroupIn,
    GroupOut,
    LockdownIn,
    LockdownOut,
    MemberIn,
    PasswordChangeRequiredOut,
    ReasonIn,
    SessionsRevokedOut,
    StateChangeIn,
    size_of,
)
from mailgate.web.lookups import org_slugs

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


def accounts_router(services: Services, current_actor: ActorDependency) -> APIRouter:
    router = APIRouter()
    CurrentActor = Annotated[Actor, Depends(current_actor)]

    @router.get("/accounts", tags=["accounts"])
    async def search_accounts(
        actor: CurrentActor,
        q: str = "",
        state: AccountState | None = None,
        org: str | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> AccountPage:
        found, total = await services.accounts.search(
            actor,
            org_slug=org,
            query=q,
            state=state.value if state else None,
            offset=offset,
            limit=limit,
        )
        slugs = await org_slugs(services, actor)
        return AccountPage(
            items=[AccountOut.of(a, slugs) for a in found], total=total, offset=offset, limit=limit
        )

    @router.post("/accounts", status_code=status.HTTP_201_CREATED, tags=["accounts"])
    async def create_account(body: AccountIn, actor: CurrentActor) -> AccountOut:
        account = await services.accounts.create(
            actor,
            body.address,
            display_name=body.display_name,
            password=body.password,
            skip_first_login=body.skip_first_login,
            quota=size_of(body.quota) if body.quota is not None else None,
            expires_on=body.expires_on,
            employee_id=body.employee_id,
            language=body.language,
            time_zone=body.time_zone,
        )
        return AccountOut.of(account, await org_slugs(services, actor))

    @router.get("/accounts/{address}", tags=["accounts"])
    async def get_account(address: str, actor: CurrentActor) -> AccountOut:
        account = await services.accounts.get(actor, address)
        return AccountOut.of(account, await org_slugs(services, actor))

    @router.post("/accounts/{address}/state", tags=["accounts"])
    async def change_state(address: str, body: StateChangeIn, actor: CurrentActor) -> AccountOut:
        """Apply one step of the account state machine (lock, unlock, suspend, ...)."""
        account = await services.accounts.change_state(
            actor, address, body.action, reason=body.reason, new_expiry=body.new_expiry
        )
        return AccountOut.of(account, await org_slugs(services, actor))

    @router.post("/accounts/{address}/lockdown", tags=["accounts"])
    async def lockdown(address: str, body: LockdownIn, actor: CurrentActor) -> LockdownOut:
        """Lock the account, end its web sessions, revoke its app passwords and API tokens, remove
        its forwarding and require a new password, in one step; the person and the organisation's
        admins are told. Not for
        one's own account."""
        result = await services.account_admin.lockdown(actor, address, body.reason)
        return LockdownOut(
            account=AccountOut.of(result.account, await org_slugs(services, actor)),
            state_before=result.state_before,
            sessions_ended=result.sessions_ended,
            app_passwords_revoked=result.app_passwords_revoked,
            api_tokens_revoked=result.api_tokens_revoked,
            forwarding_removed=result.forwarding_removed,
        )

    @router.post("/accounts/{address}/force-password-change", tags=["accounts"])
    async def force_password_change(
        address: str, actor: CurrentActor, body: ReasonIn | None = None
    ) -> PasswordChangeRequiredOut:
        """Require a new password at the account's next sign-in."""
        reason = body.reason if body else ""
        changed = await services.account_admin.force_password_change(actor, address, reason)
        account = await services.accounts.get(actor, address)
        return PasswordChangeRequiredOut(
            account=AccountOut.of(account, await org_slugs(services, actor)), changed=changed
        )

    @router.post("/accounts/{address}/revoke-sessions", tags=["accounts"])
    async def revoke_sessions(
        address: str, actor: CurrentActor, body: ReasonIn | None = None
    ) -> SessionsRevokedOut:
        """End every web session of the account."""
        reason = body.reason if body else ""
        ended = await services.account_admin.revoke_sessions(actor, address, reason)
        account = await services.accounts.get(actor, address)
        return SessionsRevokedOut(address=account.address, sessions_ended=ended)

    @router.get("/aliases", tags=["aliases"])
    async def list_aliases(actor: CurrentActor, org: str | None = None) -> list[AliasOut]:
        slugs = await org_slugs(services, actor)
        return [AliasOut.of(a, slugs) for a in await services.routes.list_aliases(actor, org)]

    @router.post("/aliases", status_code=status.HTTP_201_CREATED, tags=["aliases"])
    async def add_alias(body: AliasIn, actor: CurrentActor) -> AliasOut:
        alias = await services.routes.add_alias(actor, body.address, body.targets)
        return AliasOut.of(alias, await org_slugs(services, actor))

    @router.delete(
        "/aliases/{address}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["aliases"],
        response_class=Response,
    )
    async def remove_alias(address: str, actor: CurrentActor) -> None:
        await services.routes.remove_alias(actor, address)

    @router.get("/groups", tags=["groups"])
    async def list_groups(actor: CurrentActor, org: str | None = None) -> list[GroupOut]:
        slugs = await org_slugs(services, actor)
        return [GroupOut.of(g, slugs) for g in await services.routes.list_groups(actor, org)]

    @router.post("/groups", status_code=status.HTTP_201_CREATED, tags=["groups"])
    async def create_group(body: GroupIn, actor: CurrentActor) -> GroupOut:
        group = await services.routes.create_group(
            actor, body.address, body.name, body.send_policy.value
        )
        return GroupOut.of(group, await org_slugs(services, actor))

    @router.post("/groups/{address}/members", tags=["groups"])
    async def add_member(address: str, body: MemberIn, actor: CurrentActor) -> GroupOut:
        group = await services.routes.add_member(actor, address, body.address)
        return GroupOut.of(group, await org_slugs(services, actor))

    return router
