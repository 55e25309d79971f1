"""Machine endpoints that mail programs fetch on their own (docs/clients.md).

- `autoconfig`: Thunderbird's autoconfig (`config-v1.1.xml`), at
  `https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=...` and
  `https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml`;
- `autodiscover`: Outlook's plain-XML ("POX") autodiscover, `POST /autodiscover/autodiscover.xml`.

The answers come from services.clientconfig: only for domains we host, never depending on whether
a mailbox exists. No cookies, no sessions, no state change, hence no CSRF token: any client may
ask. XML is built with ElementTree, never by formatting text; request bodies are size-limited and
refused if they carry a DTD (web.wellknown.xmlbody).
"""

from __future__ import annotations

from fastapi import APIRouter

from mailgate.services.clientconfig import ClientConfigService
from mailgate.web.wellknown.autoconfig import autoconfig_router
from mailgate.web.wellknown.autodiscover import autodiscover_router


def wellknown_router(config: ClientConfigService) -> APIRouter:
    """Autoconfig and autodiscover, answering from `config`."""
    router = APIRouter(include_in_schema=False)
    router.include_router(autoconfig_router(config))
    router.include_router(autodiscover_router(config))
    return router
