"""FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).

Speed: FLAGS/UID/MODSEQ come from the session's own state (no database at all); anything
else takes one metadata query per 1,000 messages; bodies are read from the blob store a few
at a time concurrently; the MIME index is computed once per message and cached in SQL.
Responses are written in ~256 KiB chunks with flow control.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from mailgate.domain.mail import Flag
from mailgate.domain.mailbox import MessageMeta, StoreMode, UidSet

from . import commands as c
from . import response
from .bodystructure import render_body, render_bodystructure
from .context import Context
from .envelope import render_envelope
from .mime import MimePart, index_message, part_from_json, part_to_json
from .sections import (
    UnknownTransferEncoding,
    binary_content,
    needs_literal8,
    partial,
    section_bytes,
)
from .sequence import STAR
from .state import Selected, flag_names

__all__ = ["fetch"]

_STATE_ONLY = frozenset(("FLAGS", "UID", "MODSEQ"))
_NO_MIME = frozenset(("FLAGS", "UID", "MODSEQ", "INTERNALDATE", "RFC822.SIZE", "RFC822"))
_NO_RAW = frozenset(("FLAGS", "UID", "MODSEQ", "INTERNALDATE", "RFC822.SIZE"))
_UID = c.FetchAttribute("UID")
_FLAGS = c.FetchAttribute("FLAGS")
_MODSEQ = c.FetchAttribute("MODSEQ")
_BATCH = 1000
_PARALLEL_READS = 16
_CHUNK = 256 * 1024
_HEADER = c.Section(text="HEADER")
_TEXT = c.Section(text="TEXT")
_WHOLE = c.Section()


def _needs_mime(att: c.FetchAttribute) -> bool:
    if att.name in _NO_MIME:
        return False
    return not (att.name == "BODY" and att.section == _WHOLE)


class _Message:
    __slots__ = ("meta", "raw", "root")

    def __init__(self, meta: MessageMeta | None, raw: bytes, root: MimePart | None) -> None:
        self.meta = meta
        self.raw = raw
        self.root = root


def _item(box: Selected, uid: int, att: c.FetchAttribute, msg: _Message) -> bytes:
    name = att.name
    if name == "FLAGS":
        st = box.states[uid]
        return b"FLAGS " + response.flag_list(flag_names(st.flags, st.keywords))
    if name == "UID":
        return b"UID %d" % uid
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % box.states[uid].modseq
    meta = msg.meta
    if meta is None:
        raise LookupError(uid)
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + response.date_time(meta.internal_date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % meta.size
    if name == "RFC822":
        return b"RFC822 " + response.literal(msg.raw)
    if name == "BODY" and att.section == _WHOLE:
        data = msg.raw if att.partial is None else partial(msg.raw, *att.partial)
        return att.response_name() + b" " + response.literal(data)
    root = msg.root
    if root is None:
        raise LookupError(uid)
    if name == "ENVELOPE":
        return b"ENVELOPE " + render_envelope(root.envelope)
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + render_bodystructure(root)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + response.literal(section_bytes(msg.raw, root, _HEADER))
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + response.literal(section_bytes(msg.raw, root, _TEXT))
    if name == "BODY" and att.section is None:
        return b"BODY " + render_body(root)
    if name == "EMAILID":
        return b"EMAILID (M" + meta.blob_id[:24].encode("ascii") + b")"
    if name in ("SAVEDATE", "THREADID"):
        return name.encode("ascii") + b" NIL"
    section = att.section or c.Section()
    if name == "BODY":
        data = section_bytes(msg.raw, root, section)
        binary = False
    else:
        data = binary_content(msg.raw, root, section.parts)
        if name == "BINARY.SIZE":
            return att.response_name() + b" %d" % len(data)
        binary = needs_literal8(data)
    if att.partial is not None:
        data = partial(data, att.partial[0], att.partial[1])
    return att.response_name() + b" " + response.literal(data, binary=binary)


async def _load(
    ctx: Context, metas: Sequence[MessageMeta], raw: bool, mime: bool
) -> dict[int, _Message]:
    loaded: dict[int, _Message] = {}
    to_cache: list[tuple[int, str]] = []

    async def one(meta: MessageMeta) -> None:
        data = b""
        root = None
        if mime and meta.mime is not None:
            root = part_from_json(json.loads(meta.mime))
        if raw or (mime and root is None):
            data = await ctx.mailboxes.body(meta.blob_id)
        if mime and root is None:
            root = index_message(data)
            to_cache.append((meta.id, json.dumps(part_to_json(root), separators=(",", ":"))))
        loaded[meta.uid] = _Message(meta, data, root)

    if raw or mime:
        for start in range(0, len(metas), _PARALLEL_READS):
            await asyncio.gather(*(one(m) for m in metas[start : start + _PARALLEL_READS]))
    else:
        loaded = {m.uid: _Message(m, b"", None) for m in metas}
    await ctx.mailboxes.cache_mimes(ctx.account_id, to_cache)
    return loaded


async def _mark_seen(ctx: Context, box: Selected, uids: list[int]) -> set[int]:
    unseen = [u for u in uids if not box.states[u].flags & Flag.SEEN]
    if not unseen:
        return set()
    result = await ctx.mailboxes.store(
        ctx.account_id, box.mailbox_id, UidSet.of(unseen), StoreMode.ADD, int(Flag.SEEN)
    )
    for st in result.states:
        box.remember(st)
    return {st.uid for st in result.states}


async def _vanished(ctx: Context, box: Selected, cmd: c.Fetch) -> None:
    top = box.uidnext
    wanted = UidSet.from_ranges(
        (top if a == STAR else a, top if b == STAR else b) for a, b in cmd.sequence_set.ranges
    )
    since = cmd.changed_since or 0
    changes = await ctx.mailboxes.changes(ctx.account_id, box.mailbox_id, since, wanted)
    gone = [u for u in changes.vanished if not box.msn(u) or u in box.gone]
    if gone:
        ctx.out.write(b"* VANISHED (EARLIER) " + response.sequence_set(gone) + b"\r\n")


async def fetch(ctx: Context, cmd: c.Fetch) -> bytes:
    box = ctx.box()
    if not cmd.uid and cmd.sequence_set.out_of_range(box.exists):
        return response.tagged(cmd.tag, "BAD", "Invalid message sequence number")
    atts = list(cmd.attributes)
    if cmd.uid and not any(a.name == "UID" for a in atts):
        atts.insert(0, _UID)
    if cmd.changed_since is not None or any(a.name == "MODSEQ" for a in atts):
        ctx.condstore = True
        if not any(a.name == "MODSEQ" for a in atts):
            atts.append(_MODSEQ)
    uids = box.live(box.resolve(cmd.sequence_set.with_saved(None), cmd.uid))
    if cmd.vanished:
        await _vanished(ctx, box, cmd)
    if cmd.changed_since is not None:
        since = cmd.changed_since
        uids = [u for u in uids if box.states[u].modseq > since]
    marked: set[int] = set()
    if not box.readonly and any(a.sets_seen for a in atts):
        marked = await _mark_seen(ctx, box, uids)
    with_flags = atts if any(a.name == "FLAGS" for a in atts) else [*atts, _FLAGS]
    need_meta = any(a.name not in _STATE_ONLY for a in atts)
    need_raw = any(a.name not in _NO_RAW and _needs_raw(a) for a in atts)
    need_mime = any(_needs_mime(a) for a in atts)
    out = ctx.out
    buf = bytearray()
    try:
        for start in range(0, len(uids), _BATCH):
            batch = uids[start : start + _BATCH]
            loaded: dict[int, _Message] = {}
            if need_meta:
                metas = await ctx.mailboxes.fetch(ctx.account_id, box.mailbox_id, UidSet.of(batch))
                loaded = await _load(ctx, metas, need_raw, need_mime)
            empty = _Message(None, b"", None)
            for uid in batch:
                msg = loaded.get(uid, empty)
                if need_meta and msg.meta is None:
                    continue  # expunged by another session meanwhile
                items = [_item(box, uid, a, msg) for a in (with_flags if uid in marked else atts)]
                buf += b"* %d FETCH (" % box.msn(uid) + b" ".join(items) + b")\r\n"
                if len(buf) >= _CHUNK:
                    out.write(bytes(buf))
                    buf.clear()
                    await out.drain()
    except UnknownTransferEncoding:
        out.write(bytes(buf))
        return response.tagged(cmd.tag, "NO", "Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
    out.write(bytes(buf))
    return response.tagged(cmd.tag, "OK", "Fetch completed")


def _needs_raw(att: c.FetchAttribute) -> bool:
    return att.name not in ("ENVELOPE", "BODYSTRUCTURE") and not (
        att.name == "BODY" and att.section is None
    )
