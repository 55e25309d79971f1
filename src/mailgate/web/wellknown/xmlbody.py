"""Reading a small XML request body safely: bounded in size, no DTD, parsed by ElementTree.

`read_body` never holds more than `limit` bytes (BodyTooLarge beyond). `parse_xml` refuses, before
any parsing, a body that is not UTF-8 or that carries a `<!DOCTYPE` or `<!ENTITY` declaration
(entity expansion such as "billion laughs", external entities, XXE): without a DTD, expat knows
no entity but the five predefined ones, and an unknown `&name;` is a parse error. Decoding first
means a UTF-16 body cannot hide a declaration from the check; the text handed to ElementTree is
a str, so the encoding named in its XML declaration plays no part. (defusedxml is not among our
dependencies; this check covers what it would refuse for this use.)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from starlette.requests import Request

_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class BodyTooLarge(Exception):
    """The request body is longer than the endpoint accepts."""


class NotXml(Exception):
    """The body is not UTF-8, declares a DTD, or is not well-formed XML."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body of `request`, or BodyTooLarge as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def parse_xml(body: bytes) -> ET.Element:
    """The root element of `body`; NotXml for anything but plain, DTD-free UTF-8 XML."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotXml("the body is not UTF-8") from exc
    if _DECLARATION.search(text):
        raise NotXml("the body declares a DTD or an entity")
    try:
        return ET.fromstring(text)  # noqa: S314 - no DTD (checked above), bounded size
    except ET.ParseError as exc:
        raise NotXml("the body is not well-formed XML") from exc


def local_name(tag: str) -> str:
    """`Request` for `{http://...}Request` or `Request`."""
    return tag.rpartition("}")[2]
