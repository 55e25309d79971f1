"""The replies of the machine endpoints: XML documents and short plain-text refusals.

A refusal names no reason beyond the status (nothing about accounts, no exception text); it is
written in the three languages of the portal, like the last-resort 500 (web.middleware), since a
person may open the address in a browser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.responses import PlainTextResponse, Response

XML_MEDIA_TYPE = "application/xml; charset=utf-8"

NOT_FOUND = "No mail settings for this address · 此地址没有邮件设置 · 此地址沒有郵件設定\n"
BAD_REQUEST = "Not an autodiscover request · 不是自动发现请求 · 不是自動探索請求\n"
TOO_LARGE = "The request is too large · 请求过大 · 請求過大\n"
USE_POST = "Send the request with POST · 请用 POST 发送请求 · 請用 POST 傳送請求\n"


def xml_reply(root: ET.Element) -> Response:
    """`root` as an indented UTF-8 document with its XML declaration."""
    ET.indent(root)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type=XML_MEDIA_TYPE)


def not_found() -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404)


def bad_request() -> Response:
    return PlainTextResponse(BAD_REQUEST, status_code=400)


def too_large() -> Response:
    return PlainTextResponse(TOO_LARGE, status_code=413)


def use_post() -> Response:
    return PlainTextResponse(USE_POST, status_code=405, headers={"Allow": "POST"})
