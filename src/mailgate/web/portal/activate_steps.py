"""The middle steps of the first login (web.portal.activate has the rest): the second factor
(an authenticator app with its QR code, or a security key through static/webauthn.js, as the
account's policy allows) and the backup contact verified with a 6-digit code. Each page serves
only the activation session of an account at that step (`ActivationPages.at`); the services
(services.activation, which drives services.factors and services.recovery) do the work.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mailgate.domain.errors import Conflict, InvalidInput, MailgateError, NotFound
from mailgate.domain.recovery import ContactKind
from mailgate.services.activation import Step, WrongStep
from mailgate.services.recovery import TooManyCodes
from mailgate.web.portal.account import safe_qr_svg
from mailgate.web.portal.activate import CONTACT, FACTOR, ActivationPages, CsrfField, Here
from mailgate.web.portal.recovery import CONTACT_KINDS, contact_error
from mailgate.web.portal.render import Portal
from mailgate.web.portal.sudo import totp_refusal_text
from mailgate.web.session import CSRF_HEADER, client_ip, csrf_matches


def activate_steps_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    identity = services.identity
    activation = services.activation
    pages = ActivationPages(portal)
    at, render, to_continue = pages.at, pages.render, pages.to_continue

    # --- second factor -------------------------------------------------------------------------

    async def factor_page(
        request: Request, here: Here, error: str = "", status_code: int = 200
    ) -> Response:
        methods = await activation.factor_methods(here.account)
        return render(
            request, "activate_factor.html", here, status_code, methods=methods, error=error
        )

    @router.get(FACTOR)
    async def factor_form(request: Request) -> Response:
        here = await at(request, Step.SECOND_FACTOR)
        if not isinstance(here, Here):
            return here
        return await factor_page(request, here)

    @router.post(f"{FACTOR}/totp")
    async def totp_start(request: Request, csrf_token: CsrfField = "") -> Response:
        here = await at(request, Step.SECOND_FACTOR, csrf_token)
        if not isinstance(here, Here):
            return here
        _ = portal.catalog(request).gettext
        try:
            enrolment = await activation.enrol_totp(here.actor, _("Authenticator app"))
        except WrongStep:
            return await factor_page(request, here, _("This way is not offered to you."), 409)
        return render(
            request,
            "activate_totp.html",
            here,
            factor_id=enrolment.factor_id,
            secret=enrolment.secret,
            qr=safe_qr_svg(enrolment.qr_svg),
            error="",
        )

    @router.post(f"{FACTOR}/totp/confirm")
    async def totp_confirm(
        request: Request,
        factor_id: Annotated[int, Form(ge=1)],
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.SECOND_FACTOR, csrf_token)
        if not isinstance(here, Here):
            return here
        t = portal.catalog(request)
        _ = t.gettext
        try:
            result = await activation.confirm_totp(here.actor, factor_id, code)
        except (InvalidInput, NotFound):
            error = _(
                "This set-up has expired or was already finished. Start again with a new QR code."
            )
            return await factor_page(request, here, error, 409)
        if not result.accepted:
            return render(
                request,
                "activate_totp.html",
                here,
                422,
                factor_id=factor_id,
                secret=None,
                qr=None,
                error=totp_refusal_text(t, result),
            )
        return to_continue()

    @router.post(f"{FACTOR}/webauthn/options")
    async def webauthn_options(request: Request) -> Response:
        """The registration challenge (JSON; CSRF token in a header)."""
        restricted = await pages.restricted_of(request)
        if restricted is None or not csrf_matches(
            restricted.csrf, request.headers.get(CSRF_HEADER)
        ):
            return JSONResponse({"error": "not_allowed"}, status_code=403)
        actor = await identity.act_as(restricted.address, client_ip(request))
        try:
            options = await activation.webauthn_options(actor)
        except WrongStep:
            return JSONResponse({"error": "not_allowed"}, status_code=403)
        return Response(options, media_type="application/json")

    @router.post(f"{FACTOR}/webauthn")
    async def webauthn_register(
        request: Request,
        name: Annotated[str, Form(max_length=100)] = "",
        credential: Annotated[str, Form(max_length=20_000)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.SECOND_FACTOR, csrf_token)
        if not isinstance(here, Here):
            return here
        _ = portal.catalog(request).gettext
        try:
            await activation.register_webauthn(
                here.actor, credential, " ".join(name.split()) or _("Security key")
            )
        except (InvalidInput, Conflict):
            error = _("The security key could not be added. Try again.")
            return await factor_page(request, here, error, 422)
        return to_continue()

    # --- backup contact ------------------------------------------------------------------------

    async def contact_page(
        request: Request,
        here: Here,
        *,
        status_code: int = 200,
        error: str = "",
        notice: str = "",
        focus: int | None = None,
        form: dict[str, str] | None = None,
    ) -> Response:
        contacts = await activation.contacts(here.actor)
        waiting = [c for c in contacts if not c.verified]
        chosen = next((c for c in waiting if c.id == focus), waiting[-1] if waiting else None)
        return render(
            request,
            "activate_contact.html",
            here,
            status_code,
            pending=chosen,
            CONTACT_KINDS=CONTACT_KINDS,
            sms_available=services.recovery.sms_available,
            error=error,
            notice=notice,
            form=form or {"kind": "email", "value": ""},
        )

    @router.get(CONTACT)
    async def contact_form(
        request: Request, contact: int | None = None, sent: str = ""
    ) -> Response:
        here = await at(request, Step.RECOVERY_CONTACT)
        if not isinstance(here, Here):
            return here
        _ = portal.catalog(request).gettext
        notice = _("A 6-digit code is on its way. Enter it below.") if sent else ""
        return await contact_page(request, here, notice=notice, focus=contact)

    @router.post(CONTACT)
    async def contact_add(
        request: Request,
        kind: Annotated[str, Form(max_length=10)] = "email",
        value: Annotated[str, Form(max_length=320)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.RECOVERY_CONTACT, csrf_token)
        if not isinstance(here, Here):
            return here
        t = portal.catalog(request)
        form = {"kind": kind if kind in CONTACT_KINDS else "email", "value": value}
        if kind not in CONTACT_KINDS:
            error = t.gettext("Choose an e-mail address or a mobile phone.")
            return await contact_page(request, here, status_code=422, error=error, form=form)
        if not value.strip():
            error = t.gettext("Enter the address or number to add.")
            return await contact_page(request, here, status_code=422, error=error, form=form)
        try:
            contact_id = await activation.add_contact(here.actor, ContactKind(kind), value)
        except (InvalidInput, Conflict, TooManyCodes) as exc:
            return await contact_page(
                request,
                here,
                status_code=_status(exc),
                error=contact_error(t, exc, kind),
                form=form,
            )
        query = urlencode({"contact": contact_id, "sent": 1})
        return RedirectResponse(f"{CONTACT}?{query}", status_code=303)

    @router.post(f"{CONTACT}/{{contact_id}}/verify")
    async def contact_verify(
        request: Request,
        contact_id: int,
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.RECOVERY_CONTACT, csrf_token)
        if not isinstance(here, Here):
            return here
        t = portal.catalog(request)
        try:
            await activation.verify_contact(here.actor, contact_id, code)
        except (InvalidInput, NotFound) as exc:
            return await contact_page(
                request, here, status_code=422, error=contact_error(t, exc), focus=contact_id
            )
        return to_continue()

    @router.post(f"{CONTACT}/{{contact_id}}/resend")
    async def contact_resend(
        request: Request, contact_id: int, csrf_token: CsrfField = ""
    ) -> Response:
        here = await at(request, Step.RECOVERY_CONTACT, csrf_token)
        if not isinstance(here, Here):
            return here
        t = portal.catalog(request)
        try:
            await activation.resend_code(here.actor, contact_id)
        except (InvalidInput, NotFound, TooManyCodes) as exc:
            return await contact_page(
                request,
                here,
                status_code=_status(exc),
                error=contact_error(t, exc),
                focus=contact_id,
            )
        query = urlencode({"contact": contact_id, "sent": 1})
        return RedirectResponse(f"{CONTACT}?{query}", status_code=303)

    return router


def _status(exc: MailgateError) -> int:
    if isinstance(exc, TooManyCodes):
        return 429
    return 409 if isinstance(exc, Conflict) else 422
