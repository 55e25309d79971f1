"""Organisations, domains and the roster."""
# No "from __future__ import annotations": FastAPI must see the local CurrentActor alias.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from starlette.datastructures import UploadFile

from mailgate.domain.access import Actor
from mailgate.domain.errors import InvalidInput
from mailgate.services.container import Services
from mailgate.web.api.auth import ActorDependency
from mailgate.web.api.models import (
    DomainIn,
    DomainOut,
    ImportReportOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    RosterEntryOut,
    RosterPage,
    size_of,
)
from mailgate.web.lookups import org_slugs, roster_labels

MAX_ROSTER_BYTES = 64 * 1024 * 1024
_ROSTER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _roster_bytes(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("send the CSV as the form field 'file'")
            data = await upload.read(MAX_ROSTER_BYTES + 1)
    else:
        data = await request.body()
    if len(data) > MAX_ROSTER_BYTES:
        raise InvalidInput(f"the roster file is larger than {MAX_ROSTER_BYTES // 2**20} MiB")
    return data


def directory_router(services: Services, current_actor: ActorDependency) -> APIRouter:
    router = APIRouter()
    CurrentActor = Annotated[Actor, Depends(current_actor)]

    @router.get("/organisations", tags=["organisations"])
    async def list_organisations(actor: CurrentActor) -> list[OrganisationOut]:
        return [OrganisationOut.of(o) for o in await services.organisations.list(actor)]

    @router.post("/organisations", status_code=status.HTTP_201_CREATED, tags=["organisations"])
    async def create_organisation(body: OrganisationIn, actor: CurrentActor) -> OrganisationOut:
        org = await services.organisations.create(
            actor,
            body.slug,
            body.name,
            body.kind.value,
            body.account_pool_limit,
            size_of(body.default_quota),
            body.helpdesk_contact,
        )
        return OrganisationOut.of(org)

    @router.get("/organisations/{slug}", tags=["organisations"])
    async def get_organisation(slug: str, actor: CurrentActor) -> OrganisationOut:
        return OrganisationOut.of(await services.organisations.get(actor, slug))

    @router.patch("/organisations/{slug}", tags=["organisations"])
    async def update_organisation(
        slug: str, body: OrganisationPatch, actor: CurrentActor
    ) -> OrganisationOut:
        pool: int | bool | None = False
        if "account_pool_limit" in body.model_fields_set:
            pool = body.account_pool_limit
        org = await services.organisations.update(
            actor,
            slug,
            name=body.name,
            account_pool_limit=pool,
            default_quota=size_of(body.default_quota) if body.default_quota is not None else None,
            helpdesk_contact=body.helpdesk_contact,
        )
        return OrganisationOut.of(org)

    @router.get("/domains", tags=["domains"])
    async def list_domains(actor: CurrentActor, org: str | None = None) -> list[DomainOut]:
        slugs = await org_slugs(services, actor)
        return [
            DomainOut.of(d, slugs) for d in await services.organisations.list_domains(actor, org)
        ]

    @router.get("/organisations/{slug}/domains", tags=["domains"])
    async def list_org_domains(slug: str, actor: CurrentActor) -> list[DomainOut]:
        return await list_domains(actor, slug)

    @router.post(
        "/organisations/{slug}/domains", status_code=status.HTTP_201_CREATED, tags=["domains"]
    )
    async def add_domain(slug: str, body: DomainIn, actor: CurrentActor) -> DomainOut:
        domain = await services.organisations.add_domain(actor, slug, body.name)
        return DomainOut.of(domain, {domain.org_id: slug})

    @router.get("/roster", tags=["roster"])
    async def search_roster(
        actor: CurrentActor,
        org: str | None = None,
        q: str = "",
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> RosterPage:
        entries, total = await services.roster.search(
            actor, org_slug=org, query=q, offset=offset, limit=limit
        )
        labels = await roster_labels(services, actor, entries)
        items = [
            RosterEntryOut.of(e, labels.org_slug(e), labels.unit(e), labels.region_code(e))
            for e in entries
        ]
        return RosterPage(items=items, total=total, offset=offset, limit=limit)

    @router.post("/organisations/{slug}/roster", tags=["roster"], openapi_extra=_ROSTER_BODY)
    async def import_roster(
        slug: str, request: Request, actor: CurrentActor, encoding: str = "utf-8"
    ) -> ImportReportOut:
        """Upsert roster rows by employee ID (text/csv body or multipart field `file`).

        Good rows are imported; every rejected row is reported with its line and reason."""
        data = await _roster_bytes(request)
        report = await services.roster.import_csv(actor, slug, data, encoding=encoding)
        return ImportReportOut.of(report)

    return router
