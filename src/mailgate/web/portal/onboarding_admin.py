"""The console's onboarding configuration: policies, entry points and the IT ticket list.

    /admin/policies            the organisation's policies in their order; add, edit (settings,
                               name, position, enabled), move, enable/disable, remove (confirmed)
    /admin/policies/explain    every setting of one person and the policy that decided it
    /admin/entries             entry points: list, add, edit networks / texts / enabled
    /admin/tickets             people routed to IT instead of self-service: list, close with a
                               note, CSV export

Every change goes through a service (policies, entry_points, tickets), which checks the actor's
scope and writes the audit record; forms carry the session's CSRF token. Values are validated
here first so that each problem is shown next to its field in the page's language; the service
checks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import EmploymentType, Organisation
from mailgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mailgate.domain.policy import SETTINGS, EntryPoint, Policy, check_settings
from mailgate.domain.units import parse_size
from mailgate.services.identity import WebSession
from mailgate.services.policies import SelectorSpec
from mailgate.web.i18n import Catalog
from mailgate.web.lookups import organisations_by_id
from mailgate.web.portal.apply_labels import (
    CONDITION_NAMES,
    ENTRY_KINDS,
    SETTING_HINTS,
    SETTING_KINDS,
    SETTING_LABELS,
    TICKET_STATES,
    show_setting,
)
from mailgate.web.portal.render import CONSOLE, Portal
from mailgate.web.session import CSRF_FIELD, csrf_matches

POLICIES = f"{CONSOLE}/policies"
ENTRIES = f"{CONSOLE}/entries"
TICKETS = f"{CONSOLE}/tickets"
MAX_FORM_FIELDS = 200
MAX_FIELD = 64 * 1024
MAX_POSITION = 1_000_000

Name = Annotated[str, Query(max_length=200)]
Slug = Annotated[str, Query(max_length=100)]


def policy_url(path: str, org: str, name: str = "", **more: str) -> str:
    params = {"org": org} | ({"name": name} if name else {}) | more
    return f"{path}?{urlencode(params)}"


def _size_text(value: int) -> str:
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


def setting_text(key: str, value: Any) -> str:
    """A setting's value as the edit form shows it (and reads it back)."""
    kind = SETTING_KINDS[key]
    if kind == "bool":
        return "true" if value else "false"
    if kind == "size":
        return _size_text(int(value))
    if kind == "lines":
        return "\n".join(value)
    if kind == "names":
        return ", ".join(value)
    return str(value)


def _setting_error(t: Catalog, key: str) -> str:
    _ = t.gettext
    messages = {
        "bool": _("Choose yes or no."),
        "int": _("Enter a whole number in the allowed range."),
        "size": _("Enter a size such as 500MiB or 2GiB (at least 1MiB)."),
        "names": _("Use only the names listed below, separated by commas."),
        "lines": _("Write at most 30 lines of up to 200 characters."),
        "text": _("Use the placeholders listed below; between them only a-z 0-9 . _ -"),
    }
    if key == "second_factor_methods" or key == "allowed_protocols":
        return _("Name at least one, from the list below.")
    return messages[SETTING_KINDS[key]]


@dataclass(slots=True)
class SettingsForm:
    """The settings part of the policy form: which are set, as typed, and what is wrong."""

    chosen: dict[str, bool] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, policy: Policy | None) -> SettingsForm:
        form = cls()
        for key, (_check, default) in SETTINGS.items():
            value = policy.settings[key] if policy and key in policy.settings else default
            form.chosen[key] = bool(policy and key in policy.settings)
            form.typed[key] = setting_text(key, value)
        return form

    @classmethod
    def read(cls, t: Catalog, data: FormData) -> SettingsForm:
        _ = t.gettext
        form = cls()
        for key, (check, _default) in SETTINGS.items():
            text = str(data.get(f"v.{key}", ""))[:MAX_FIELD]
            form.typed[key] = text
            form.chosen[key] = data.get(f"set.{key}") == "1"
            if not form.chosen[key]:
                continue
            try:
                form.values[key] = check(key, _raw(key, text))
            except InvalidInput:
                form.errors[key] = _setting_error(t, key)
        if not form.errors:
            try:
                check_settings(form.values)
            except InvalidInput:
                form.errors["password_min_length_with_second_factor"] = _(
                    "This may not be more than the minimum password length."
                )
        return form


def _raw(key: str, text: str) -> Any:
    """What the domain's check of `key` takes, from the text of the form."""
    kind = SETTING_KINDS[key]
    text = text.strip()
    if kind == "bool":
        return {"true": True, "false": False}.get(text, text)
    if kind == "int":
        return int(text) if text.lstrip("-").isdigit() and len(text) < 20 else text
    if kind == "size":
        return parse_size(text)
    if kind == "lines":
        return text.splitlines()
    return text


@dataclass(slots=True)
class PolicyFields:
    """The rest of the policy form, as typed."""

    name: str = ""
    position: str = "100"
    unit: str = ""
    job: str = ""
    region: str = ""
    employment_type: str = ""
    entry_point: str = ""
    require: tuple[str, ...] = ()
    description: str = ""
    enabled: bool = True

    @classmethod
    def read(cls, data: FormData) -> PolicyFields:
        def text(name: str, limit: int = 500) -> str:
            return str(data.get(name, ""))[:limit].strip()

        return cls(
            name=text("name", 200),
            position=text("position", 20),
            unit=text("unit"),
            job=text("job", 200),
            region=text("region", 100),
            employment_type=text("employment_type", 40),
            entry_point=text("entry_point", 40),
            require=tuple(str(v) for v in data.getlist("require") if str(v) in CONDITION_NAMES),
            description=text("description", 2000),
            enabled=data.get("enabled") == "1",
        )

    def errors(self, t: Catalog) -> dict[str, str]:
        _ = t.gettext
        out: dict[str, str] = {}
        if not self.name or len(self.name) > 100:
            out["name"] = _("Give the policy a name of 1 to 100 characters.")
        if not self.position.isdigit() or int(self.position) > MAX_POSITION:
            out["position"] = _("Enter a whole number from 0 to 1000000.")
        if self.employment_type and self.employment_type not in {e.value for e in EmploymentType}:
            out["employment_type"] = _("Choose one of the list.")
        if self.entry_point and self.entry_point not in {e.value for e in EntryPoint}:
            out["entry_point"] = _("Choose one of the list.")
        return out


@dataclass(slots=True)
class Console:
    """What the onboarding console pages share: the session, the CSRF-checked form, the
    organisations the actor may work on, and rendering with the pages' constants."""

    portal: Portal

    async def session(self, request: Request) -> WebSession | Response:
        session = await self.portal.session(request)
        if session is None:
            return self.portal.to_sign_in(request)
        return session

    async def form(self, request: Request, session: WebSession) -> FormData | Response:
        data = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD)
        if not csrf_matches(session.csrf, str(data.get(CSRF_FIELD, ""))):
            return await self.portal.error_page(request, "csrf", 403)
        return data

    async def orgs(self, actor: Actor, permission: Permission) -> list[Organisation]:
        """The organisations where the actor holds `permission`, by slug; PermissionDenied
        when there are none (the page is not for this role)."""
        orgs = await organisations_by_id(self.portal.services, actor)
        found = sorted(
            (o for o in orgs.values() if actor.can(permission, o.id)), key=lambda o: o.slug
        )
        if not found:
            raise PermissionDenied("this page is not for your role")
        return found

    @staticmethod
    def chosen(orgs: list[Organisation], slug: str) -> Organisation:
        """The organisation asked for (NotFound when not among `orgs`), the first by default."""
        if not slug:
            return orgs[0]
        for org in orgs:
            if org.slug == slug:
                return org
        raise NotFound("there is no such organisation")

    def render(
        self,
        request: Request,
        template: str,
        session: WebSession,
        status_code: int = 200,
        **ctx: Any,
    ) -> Response:
        return self.portal.render(
            request,
            template,
            session=session,
            status_code=status_code,
            POLICIES=POLICIES,
            ENTRIES=ENTRIES,
            TICKETS=TICKETS,
            SETTINGS=list(SETTINGS),
            SETTING_LABELS=SETTING_LABELS,
            SETTING_HINTS=SETTING_HINTS,
            SETTING_KINDS=SETTING_KINDS,
            CONDITION_NAMES=CONDITION_NAMES,
            ENTRY_KINDS=ENTRY_KINDS,
            TICKET_STATES=TICKET_STATES,
            policy_url=policy_url,
            **ctx,
        )


def onboarding_admin_router(portal: Portal) -> APIRouter:
    """The policy pages (the entry and ticket pages are in onboarding_entries)."""
    router = APIRouter(include_in_schema=False)
    services = portal.services
    console = Console(portal)
    signed_in, form_of, render = console.session, console.form, console.render

    # --- policies -----------------------------------------------------------------------------

    async def selector_names(actor: Actor, org: Organisation) -> dict[str, dict[int, str]]:
        return {
            "units": {
                u.id: u.path for u in await services.organisations.list_units(actor, org.slug)
            },
            "regions": {
                r.id: r.name for r in await services.organisations.list_regions(actor, org.slug)
            },
            "positions": await services.apply_form.position_names(actor, org.slug),
        }

    @router.get(POLICIES)
    async def policies(request: Request, org: Slug = "", done: Slug = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        orgs = await console.orgs(actor, Permission.DIRECTORY_READ)
        current = console.chosen(orgs, org)
        rows = await services.policies.list(actor, current.slug)
        t = portal.catalog(request)
        return render(
            request,
            "admin_policies.html",
            session,
            orgs=orgs,
            org=current,
            rows=rows,
            names=await selector_names(actor, current),
            may_change=actor.can(Permission.ORG_UPDATE, current.id),
            show=lambda key, value: show_setting(t, key, value),
            notice=_policy_notice(t, done),
        )

    async def policy_form(
        request: Request,
        session: WebSession,
        org: Organisation,
        *,
        policy: Policy | None,
        fields: PolicyFields,
        settings: SettingsForm,
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        actor = session.actor
        t = portal.catalog(request)
        return render(
            request,
            "admin_policies_form.html",
            session,
            status_code=status_code,
            org=org,
            policy=policy,
            f=fields,
            s=settings,
            errors=errors or {},
            units=await services.organisations.list_units(actor, org.slug),
            regions=await services.organisations.list_regions(actor, org.slug),
            names=await selector_names(actor, org),
            EMPLOYMENT_KINDS=[e.value for e in EmploymentType],
            ENTRY_POINTS=[e.value for e in EntryPoint],
            show=lambda key, value: show_setting(t, key, value),
        )

    async def changeable_org(actor: Actor, slug: str) -> Organisation:
        return console.chosen(await console.orgs(actor, Permission.ORG_UPDATE), slug or "-")

    async def policy_named(actor: Actor, org: Organisation, name: str) -> Policy:
        for policy in await services.policies.list(actor, org.slug):
            if policy.name == name:
                return policy
        raise NotFound("there is no such policy")

    @router.get(f"{POLICIES}/new")
    async def new_policy(request: Request, org: Slug = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        current = await changeable_org(session.actor, org)
        existing = await services.policies.list(session.actor, current.slug)
        position = str(max((p.position for p in existing), default=0) + 10)
        return await policy_form(
            request,
            session,
            current,
            policy=None,
            fields=PolicyFields(position=position),
            settings=SettingsForm.of(None),
        )

    @router.post(f"{POLICIES}/new")
    async def add_policy(request: Request, org: Slug = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        data = await form_of(request, session)
        if not isinstance(data, FormData):
            return data
        actor = session.actor
        current = await changeable_org(actor, org)
        t = portal.catalog(request)
        _ = t.gettext
        fields = PolicyFields.read(data)
        settings = SettingsForm.read(t, data)
        errors = fields.errors(t)
        if not errors and not settings.errors:
            try:
                await services.policies.add(
                    actor,
                    current.slug,
                    fields.name,
                    position=int(fields.position),
                    selector=SelectorSpec(
                        fields.unit or None,
                        fields.job or None,
                        fields.region or None,
                        fields.employment_type or None,
                        fields.entry_point or None,
                    ),
                    settings=settings.values,
                    require=fields.require,
                    description=fields.description,
                )
            except Conflict:
                errors["name"] = _("The organisation already has a policy of this name.")
            except NotFound:
                errors["selector"] = _(
                    "The organisation has no such org unit, position or region. Check the "
                    "spelling of the position."
                )
            else:
                target = policy_url(POLICIES, current.slug, done="added")
                return RedirectResponse(target, status_code=303)
        return await policy_form(
            request,
            session,
            current,
            policy=None,
            fields=fields,
            settings=settings,
            errors=errors,
            status_code=422,
        )

    @router.get(f"{POLICIES}/edit")
    async def edit_policy(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        current = await changeable_org(session.actor, org)
        policy = await policy_named(session.actor, current, name)
        fields = PolicyFields(
            name=policy.name,
            position=str(policy.position),
            require=tuple(c.value for c in policy.require),
            description=policy.description,
            enabled=policy.enabled,
        )
        return await policy_form(
            request,
            session,
            current,
            policy=policy,
            fields=fields,
            settings=SettingsForm.of(policy),
        )

    @router.post(f"{POLICIES}/edit")
    async def change_policy(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        data = await form_of(request, session)
        if not isinstance(data, FormData):
            return data
        actor = session.actor
        current = await changeable_org(actor, org)
        policy = await policy_named(actor, current, name)
        t = portal.catalog(request)
        _ = t.gettext
        fields = PolicyFields.read(data)
        settings = SettingsForm.read(t, data)
        errors = fields.errors(t)
        if not errors and not settings.errors:
            try:
                await services.policies.change(
                    actor,
                    current.slug,
                    policy.name,
                    settings=settings.values,
                    unset=[k for k in policy.settings if k not in settings.values],
                    position=int(fields.position),
                    enabled=fields.enabled,
                    new_name=fields.name,
                )
            except Conflict:
                errors["name"] = _("The organisation already has a policy of this name.")
            else:
                target = policy_url(POLICIES, current.slug, done="changed")
                return RedirectResponse(target, status_code=303)
        return await policy_form(
            request,
            session,
            current,
            policy=policy,
            fields=fields,
            settings=settings,
            errors=errors,
            status_code=422,
        )

    @router.post(f"{POLICIES}/state")
    async def policy_state(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        data = await form_of(request, session)
        if not isinstance(data, FormData):
            return data
        current = await changeable_org(session.actor, org)
        enabled = data.get("enabled") == "1"
        await services.policies.change(session.actor, current.slug, name, enabled=enabled)
        done = "enabled" if enabled else "disabled"
        return RedirectResponse(policy_url(POLICIES, current.slug, done=done), status_code=303)

    @router.post(f"{POLICIES}/move")
    async def move_policy(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        data = await form_of(request, session)
        if not isinstance(data, FormData):
            return data
        current = await changeable_org(session.actor, org)
        text = str(data.get("position", "")).strip()
        if not text.isdigit() or int(text) > MAX_POSITION:
            target = policy_url(POLICIES, current.slug, done="bad-position")
            return RedirectResponse(target, status_code=303)
        await services.policies.change(session.actor, current.slug, name, position=int(text))
        return RedirectResponse(policy_url(POLICIES, current.slug, done="moved"), status_code=303)

    @router.get(f"{POLICIES}/remove")
    async def confirm_remove(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        current = await changeable_org(session.actor, org)
        policy = await policy_named(session.actor, current, name)
        t = portal.catalog(request)
        return render(
            request,
            "admin_policies_remove.html",
            session,
            org=current,
            policy=policy,
            names=await selector_names(session.actor, current),
            show=lambda key, value: show_setting(t, key, value),
        )

    @router.post(f"{POLICIES}/remove")
    async def remove_policy(request: Request, org: Slug = "", name: Name = "") -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        data = await form_of(request, session)
        if not isinstance(data, FormData):
            return data
        current = await changeable_org(session.actor, org)
        await services.policies.remove(session.actor, current.slug, name)
        return RedirectResponse(policy_url(POLICIES, current.slug, done="removed"), status_code=303)

    @router.get(f"{POLICIES}/explain")
    async def explain(
        request: Request,
        org: Slug = "",
        employee_id: Annotated[str, Query(max_length=64)] = "",
        entry_point: Annotated[str, Query(max_length=20)] = "",
    ) -> Response:
        session = await signed_in(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        orgs = await console.orgs(actor, Permission.DIRECTORY_READ)
        current = console.chosen(orgs, org)
        t = portal.catalog(request)
        _ = t.gettext
        point = entry_point if entry_point in {e.value for e in EntryPoint} else ""
        resolution, error, status_code = None, "", 200
        if employee_id.strip():
            try:
                resolution = await services.policies.explain(
                    actor, current.slug, employee_id, point or None
                )
            except NotFound:
                error = _("This employee ID is not on the organisation's roster.")
                status_code = 404
        return render(
            request,
            "admin_policies_explain.html",
            session,
            status_code=status_code,
            orgs=orgs,
            org=current,
            employee_id=employee_id.strip(),
            entry_point=point,
            ENTRY_POINTS=[e.value for e in EntryPoint],
            resolution=resolution,
            error=error,
            show=lambda key, value: show_setting(t, key, value),
        )

    return router


def _policy_notice(t: Catalog, done: str) -> str:
    _ = t.gettext
    return {
        "added": _("The policy was added."),
        "changed": _("The policy was saved."),
        "enabled": _("The policy is enabled."),
        "disabled": _("The policy is disabled: it no longer decides anything."),
        "moved": _("The policy was moved."),
        "bad-position": _("A position is a whole number from 0 to 1000000."),
        "removed": _("The policy was removed."),
    }.get(done, "")
