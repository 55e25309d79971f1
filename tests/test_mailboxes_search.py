"""SEARCH support: header, date, size, flag and keyword criteria, and full-text BODY/TEXT that
finds two-character Chinese words (which trigram indexes cannot), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest

from mailgate.domain.access import Actor
from mailgate.domain.mail import Flag
from mailgate.domain.mailbox import NewAppend, SearchCriteria, StoreMode, UidSet
from mailgate.services.container import Services
from mailgate.services.textindex import extract_text

PW = "a-long-enough-password"

CHINESE = (
    "From: =?UTF-8?B?5byg5Lyf?= <zhang.wei@acme.test>\r\n"
    "To: li.na@acme.test\r\n"
    "Subject: =?UTF-8?B?56ys5LiJ5a2j5bqm5oql5ZGK?=\r\n"
    "Date: Mon, 05 Oct 2026 10:00:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
    "\r\n--b1\r\n"
    "Content-Type: text/plain; charset=gb2312\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode("请查收本月的销售报告，谢谢。".encode("gb2312")).decode()
    + "\r\n--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>请查收本月的销售<b>报告</b></p>\r\n"
    "--b1--\r\n"
).encode()

QUARTERLY = (
    b"From: Wang Wei <wang.wei@acme.test>\r\nTo: li.na@acme.test\r\nCc: Boss <boss@acme.test>\r\n"
    b"Subject: Quarterly numbers\r\nDate: Thu, 01 Jan 2026 08:00:00 +0000\r\n"
    b"X-Priority: 1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n=E5=AD=A3=E5=BA=A6=E6=8A=A5=E5=91=8A attached. The Invoice-Number is 4711.\r\n"
)

PLAIN = (
    b"From: Ops <ops@example.org>\r\nTo: li.na@acme.test\r\nSubject: Server maintenance\r\n"
    b"Date: Fri, 20 Nov 2026 08:00:00 +0000\r\n\r\n"
    b"Downtime tonight; 50% of the fleet_a restarts.\r\n" + b"padding " * 500
)


@pytest.fixture
async def box(services: Services, root: Actor) -> tuple[Services, int, int]:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    account = await services.accounts.create(
        root, "li.na@acme.test", password=PW, skip_first_login=True
    )
    mb = services.mailboxes
    await mb.append(
        account.id,
        "INBOX",
        [
            NewAppend(CHINESE, internal_date=datetime(2026, 10, 5, 3, tzinfo=UTC)),
            NewAppend(QUARTERLY, Flag.SEEN, ("$Label1",), datetime(2026, 1, 1, 9, tzinfo=UTC)),
        ],
    )
    # Delivered mail is indexed as well.
    await services.delivery.deliver("ops@example.org", [account.id], PLAIN)
    snap = await mb.select(account.id, "INBOX")
    return services, account.id, snap.mailbox_id


async def search(b: tuple[Services, int, int], **criteria: object) -> list[int]:
    services, account, mailbox = b
    return await services.mailboxes.search(account, mailbox, SearchCriteria(**criteria))  # type: ignore[arg-type]


async def test_full_text_finds_chinese_words_of_any_length(box: tuple[Services, int, int]) -> None:
    assert await search(box, body=("报告",)) == [1, 2]  # two characters: no trigram can match
    assert await search(box, body=("季度报告",)) == [2]
    assert await search(box, body=("销售报告",)) == [1]  # base64 GB2312 part, and in HTML
    assert await search(box, text=("第三季度",)) == [1]  # RFC 2047 subject, via TEXT
    assert await search(box, body=("第三季度",)) == []
    assert await search(box, body=("报",)) == [1, 2]


async def test_full_text_ascii_substrings_are_case_insensitive_and_literal(
    box: tuple[Services, int, int],
) -> None:
    assert await search(box, body=("invoice-NUMBER",)) == [2]
    assert await search(box, body=("voice",)) == [2]
    assert await search(box, body=("50%",)) == [3]
    assert await search(box, body=("fleet_a",)) == [3]
    assert await search(box, body=("5_%",)) == []  # wildcards are not wildcards
    assert await search(box, text=("ops@example",)) == [3]
    assert await search(box, body=("downtime", "tonight")) == [3]
    assert await search(box, body=("downtime", "invoice")) == []


async def test_header_date_size_flag_keyword_and_uid_criteria(
    box: tuple[Services, int, int],
) -> None:
    assert await search(box) == [1, 2, 3]
    assert await search(box, subject=("quarterly",)) == [2]
    assert await search(box, subject=("季度报告",)) == [1]
    assert await search(box, from_=("张伟",)) == [1]
    assert await search(box, from_=("WANG",), cc=("boss",)) == [2]
    assert await search(box, to=("li.na",)) == [1, 2, 3]
    assert await search(box, header=(("x-priority", "1"),)) == [2]
    assert await search(box, header=(("X-Priority", ""),)) == [2]
    assert await search(box, since=date(2026, 10, 5)) == [1, 3]
    assert await search(box, before=date(2026, 10, 5)) == [2]
    assert await search(box, on=date(2026, 1, 1)) == [2]
    assert await search(box, sent_on=date(2026, 10, 5)) == [1]
    assert await search(box, sent_before=date(2026, 2, 1)) == [2]
    assert await search(box, sent_since=date(2026, 11, 1)) == [3]
    assert await search(box, larger=len(PLAIN) - 1) == [3]
    assert await search(box, smaller=len(PLAIN) - 1) == [1, 2]
    assert await search(box, flags_set=Flag.SEEN) == [2]
    assert await search(box, flags_unset=Flag.SEEN) == [1, 3]
    assert await search(box, keywords_set=("$label1",)) == [2]
    assert await search(box, keywords_unset=("$LABEL1",)) == [1, 3]
    assert await search(box, uids=UidSet.of([1, 3]), body=("报告",)) == [1]
    services, account, mailbox = box
    st = await services.mailboxes.store(account, mailbox, UidSet.of([3]), StoreMode.ADD, Flag.SEEN)
    assert await search(box, modseq=st.highestmodseq) == [3]


async def test_copies_share_the_text_index(box: tuple[Services, int, int]) -> None:
    services, account, mailbox = box
    await services.mailboxes.copy(account, mailbox, UidSet.of([1]), "Archive")
    archive = await services.mailboxes.select(account, "Archive")
    found = await services.mailboxes.search(
        account, archive.mailbox_id, SearchCriteria(body=("报告",))
    )
    assert found == [1]


def test_extract_text_decodes_parts_and_headers_and_survives_garbage() -> None:
    text = extract_text(CHINESE)
    assert "subject: 第三季度报告" in text.head.split("\n")
    assert "销售报告" in text.body and "<p>" not in text.body
    assert extract_text(b"\xff\xfe\x00 not a message").head == ""  # no header, no crash
    broken = b"Content-Type: text/plain; charset=x-unknown\r\n\r\nhello W\xf6rld"
    assert "hello w" in extract_text(broken).body
