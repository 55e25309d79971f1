"""One SMTP transaction to one remote domain with aiosmtplib: find the next hop (transport map,
smarthost or MX), connect, opportunistic STARTTLS, AUTH for a smarthost, MAIL/RCPT/DATA, and a
reply per recipient.

Opportunistic TLS does not verify certificates (RFC 7435): an unverified encrypted session is
still better than clear text, and refusing it would only push the message into clear text.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass

import aiosmtplib

from mailgate.domain.ports import Resolver
from mailgate.services.outbound import OutboundConfig, Relay

log = logging.getLogger(__name__)
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True, slots=True)
class Reply:
    """What happened to one recipient: an SMTP code (0 when no server answered) and text."""

    code: int
    text: str
    host: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return not self.ok and not 500 <= self.code < 600

    @property
    def status(self) -> str:
        """The RFC 3463 enhanced status code, from the text or derived from the code."""
        found = _STATUS.match(self.text)
        if found:
            return found.group(0)
        if self.ok:
            return "2.0.0"
        return "5.0.0" if not self.temporary else "4.0.0"

    def describe(self) -> str:
        text = " ".join(self.text.split())
        return f"{self.code} {text}" if self.code else text


class NoRoute(Exception):
    """The domain cannot receive mail (null MX, or no host at all)."""


class SmtpTransport:
    def __init__(self, config: OutboundConfig, resolver: Resolver | None) -> None:
        self.config = config
        self.resolver = resolver

    async def route(self, domain: str) -> list[Relay]:
        """Next hops in order of preference; raises NoRoute or OSError (DNS trouble)."""
        if domain in self.config.transport_map:
            return [self.config.transport_map[domain]]
        if self.config.smarthost is not None:
            return [self.config.smarthost]
        if self.resolver is None:
            raise NoRoute(f"no transport for {domain} and DNS is disabled")
        mxs = sorted(await self.resolver.mx(domain))
        if len(mxs) == 1 and mxs[0][1] in ("", "."):
            raise NoRoute(f"{domain} does not accept mail (null MX)")
        if not mxs:  # RFC 5321 5.1: no MX means the domain itself is the host
            return [Relay(domain)]
        return [Relay(host) for _, host in mxs if host not in ("", ".")]

    async def send(
        self, domain: str, mail_from: str, recipients: list[str], data: bytes
    ) -> dict[str, Reply]:
        """Deliver to the recipients of one domain; every recipient gets a Reply."""
        try:
            hops = await self.route(domain)
        except NoRoute as exc:
            return dict.fromkeys(recipients, Reply(556, f"5.1.10 {exc}"))
        except OSError as exc:
            return dict.fromkeys(recipients, Reply(0, f"4.4.3 DNS lookup failed: {exc}"))
        last = Reply(0, "4.4.1 no answer from any host")
        for hop in hops:
            try:
                smtp = await self._connect(hop)
            except (aiosmtplib.SMTPException, OSError) as exc:
                log.info("outbound: cannot connect to %s:%d: %s", hop.host, hop.port, exc)
                last = Reply(0, f"4.4.1 cannot connect to {hop.host}:{hop.port}: {exc}", hop.host)
                continue
            try:
                return await self._transaction(smtp, hop, mail_from, recipients, data)
            except aiosmtplib.SMTPResponseException as exc:
                reply = Reply(exc.code, exc.message, hop.host)
                return dict.fromkeys(recipients, reply)
            except (aiosmtplib.SMTPException, OSError) as exc:
                return dict.fromkeys(recipients, Reply(0, f"4.4.2 {exc}", hop.host))
            finally:
                smtp.close()
        return dict.fromkeys(recipients, last)

    async def _connect(self, hop: Relay) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=hop.host,
            port=hop.port,
            local_hostname=self.config.hostname,
            timeout=self.config.timeout,
            start_tls=False,
            validate_certs=False,
        )
        await smtp.connect()
        try:
            await smtp.ehlo()
            if smtp.supports_extension("starttls"):
                await smtp.starttls(validate_certs=False)
                await smtp.ehlo()
            elif hop.require_tls:
                raise aiosmtplib.SMTPException(f"{hop.host} does not offer STARTTLS")
            if hop.username is not None:
                await smtp.login(hop.username, hop.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, hop: Relay, mail_from: str, recipients: list[str], data: bytes
    ) -> dict[str, Reply]:
        utf8 = not all(r.isascii() for r in [mail_from, *recipients])
        if utf8 and not smtp.supports_extension("smtputf8"):
            return dict.fromkeys(
                recipients, Reply(553, "5.6.7 the next hop does not accept UTF-8 addresses")
            )
        options = ["SMTPUTF8"] if utf8 else []
        if not data.isascii() and smtp.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"
        await smtp.mail(mail_from, options=options, encoding=encoding)
        replies: dict[str, Reply] = {}
        accepted: list[str] = []
        for rcpt in recipients:
            try:
                await smtp.rcpt(rcpt, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                replies[rcpt] = Reply(exc.code, exc.message, hop.host)
            else:
                accepted.append(rcpt)
        if not accepted:
            await smtp.quit()
            return replies
        try:
            response = await smtp.data(data)
        except aiosmtplib.SMTPDataError as exc:
            replies.update(dict.fromkeys(accepted, Reply(exc.code, exc.message, hop.host)))
            return replies
        replies.update(dict.fromkeys(accepted, Reply(response.code, response.message, hop.host)))
        # The message is delivered; a lost QUIT changes nothing.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()
        return replies
