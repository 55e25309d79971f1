"""Onboarding through the API: a ticket system files applications, the IT ticket list.

    POST /organisations/{slug}/applications              file for someone (JSON, base64 files)
    GET  /organisations/{slug}/applications/{id}         its state, for the filer and reviewers
    GET  /organisations/{slug}/tickets[?format=csv]      the IT ticket list (helpdesk)
    POST /organisations/{slug}/tickets/{id}/close        close one with a note

The caller is a service account's bearer token with a role in the organisation (expired tokens
are refused with 401; a token of another organisation sees no such organisation, 404). The
filing body is read with a hard size limit before it is parsed.
"""
# No "from __future__ import annotations": FastAPI must see the local CurrentActor alias.

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.routing import APIRoute
from starlette.responses import Response

from mailgate.domain.access import Actor
from mailgate.domain.errors import InvalidInput
from mailgate.domain.onboarding import MAX_UPLOAD
from mailgate.services.applications import Upload
from mailgate.services.container import Services
from mailgate.web.api.auth import ActorDependency
from mailgate.web.api.models import (
    ApplicationIn,
    ApplicationOut,
    FiledOut,
    TicketCloseIn,
    TicketOut,
    TicketPage,
)
from mailgate.web.session import client_ip

MAX_FILES_TOTAL = 30 * 1024 * 1024  # every document of one filing together, decoded
MAX_BODY = MAX_FILES_TOTAL * 4 // 3 + 256 * 1024  # base64 and the JSON around it
_ENCODED_LIMIT = (MAX_UPLOAD + 2) // 3 * 4
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


class BoundedBody(APIRoute):
    """Reads at most MAX_BODY bytes of the request before FastAPI parses it (a JSON body with
    documents is otherwise read whole, however large)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            too_large = InvalidInput(f"the request is larger than {MAX_BODY // 2**20} MiB")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise too_large
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    raise too_large
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            return await handler(Request(request.scope, replay))

        return bounded


def uploads_of(body: ApplicationIn) -> list[Upload]:
    """The decoded documents; InvalidInput names the one that is not base64 or too large."""
    out: list[Upload] = []
    total = 0
    for i, doc in enumerate(body.documents):
        where = f"documents[{i}] ({doc.filename[:100]})"
        encoded = "".join(doc.content_base64.split())
        if len(encoded) > _ENCODED_LIMIT:
            raise InvalidInput(f"{where}: the file is larger than {MAX_UPLOAD // 2**20} MiB")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{where}: content_base64 is not valid base64") from None
        total += len(data)
        if total > MAX_FILES_TOTAL:
            raise InvalidInput(
                f"the documents together are larger than {MAX_FILES_TOTAL // 2**20} MiB"
            )
        out.append(Upload(doc.label, doc.filename, data))
    return out


def onboarding_router(services: Services, current_actor: ActorDependency) -> APIRouter:
    router = APIRouter(tags=["onboarding"])
    filing = APIRouter(tags=["onboarding"], route_class=BoundedBody)
    CurrentActor = Annotated[Actor, Depends(current_actor)]

    @filing.post("/organisations/{slug}/applications", status_code=status.HTTP_201_CREATED)
    async def file_application(
        slug: str, body: ApplicationIn, actor: CurrentActor, request: Request
    ) -> FiledOut:
        """File an application on someone's behalf through the organisation's ticket entry.

        The person's policy decides: an application (its tracking link is in the answer, once;
        the applicant also gets it at their contact) or, when they may not apply by themselves,
        an IT ticket with the reasons. At most 10 documents, 10 MiB each, 30 MiB together."""
        filed = await services.applications.file_on_behalf(
            actor,
            slug,
            body.form(),
            uploads_of(body),
            client_ip=client_ip(request),
            entry_slug=body.entry,
        )
        if filed.application is not None:
            return FiledOut(
                outcome="application",
                application=ApplicationOut.of(filed.application, slug),
                tracking_url=filed.tracking_url,
            )
        assert filed.ticket is not None  # noqa: S101 - one of the two is always set
        return FiledOut(
            outcome="ticket",
            ticket=TicketOut.of(filed.ticket, slug),
            reasons=list(filed.reasons),
        )

    @router.get("/organisations/{slug}/applications/{application_id}")
    async def get_application(
        slug: str, application_id: int, actor: CurrentActor
    ) -> ApplicationOut:
        """An application's state, for the ticket system that filed it and for reviewers."""
        application = await services.applications.status(actor, slug, application_id)
        return ApplicationOut.of(application, slug)

    @router.get(
        "/organisations/{slug}/tickets",
        response_model=TicketPage,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def list_tickets(
        slug: str,
        actor: CurrentActor,
        state: Literal["open", "closed"] | None = None,
        format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> TicketPage | Response:
        """The IT ticket list, newest first (helpdesk and organisation admins); `format=csv`
        exports every ticket of the organisation."""
        if format_ == "csv":
            text = await services.tickets.export_csv(actor, slug)
            return Response(
                "\ufeff" + text,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="tickets-{slug}.csv"'},
            )
        found, total = await services.tickets.list(actor, slug, state, offset, limit)
        return TicketPage(
            items=[TicketOut.of(t, slug) for t in found], total=total, offset=offset, limit=limit
        )

    @router.post("/organisations/{slug}/tickets/{ticket_id}/close")
    async def close_ticket(
        slug: str, ticket_id: int, body: TicketCloseIn, actor: CurrentActor
    ) -> TicketOut:
        """Close an open ticket, saying what was done."""
        ticket = await services.tickets.close(actor, ticket_id, body.note, org_slug=slug)
        return TicketOut.of(ticket, slug)

    router.include_router(filing)
    return router
