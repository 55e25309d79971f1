"""Commands that change the selected mailbox: STORE (UNCHANGEDSINCE), COPY/MOVE (COPYUID),
EXPUNGE / UID EXPUNGE, CLOSE and UNSELECT (RFC 9051, RFC 4315 UIDPLUS, RFC 6851 MOVE,
RFC 7162 CONDSTORE)."""

from __future__ import annotations

import contextlib

from mailgate.domain.errors import MailgateError
from mailgate.domain.mailbox import StoreMode, UidSet

from . import commands as c
from . import response
from .context import Context, no_for
from .sequence import compress
from .state import split_flags

__all__ = ["close", "copy_or_move", "expunge", "store", "unselect"]

_MODES = {"+": StoreMode.ADD, "-": StoreMode.REMOVE, "": StoreMode.REPLACE}


def _bad_msn(cmd: c.Store | c.Copy | c.Move, exists: int) -> bool:
    return not cmd.uid and cmd.sequence_set.out_of_range(exists)


async def store(ctx: Context, cmd: c.Store) -> bytes:
    box = ctx.box()
    if box.readonly:
        return response.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
    if _bad_msn(cmd, box.exists):
        return response.tagged(cmd.tag, "BAD", "Invalid message sequence number")
    uids = box.live(box.resolve(cmd.sequence_set, cmd.uid))
    bits, kws = split_flags(cmd.flags)
    if cmd.unchanged_since is not None:
        ctx.condstore = True
    if not uids:
        return response.tagged(cmd.tag, "OK", "Store completed")
    try:
        result = await ctx.mailboxes.store(
            ctx.account_id,
            box.mailbox_id,
            UidSet.of(uids),
            _MODES[cmd.mode],
            bits,
            kws,
            cmd.unchanged_since,
        )
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    known_keywords = len(box.keywords)
    out = bytearray()
    for st in result.states:
        before = box.states.get(st.uid)
        box.remember(st)
        changed = before is None or (before.flags, before.keywords) != (st.flags, st.keywords)
        if not cmd.silent or (ctx.condstore and changed and cmd.unchanged_since is not None):
            out += box.fetch_line(st, uid=cmd.uid, modseq=ctx.condstore)
    if len(box.keywords) != known_keywords:
        out[:0] = box.flags_line()
    ctx.out.write(bytes(out))
    if result.failed:
        failed = result.failed if cmd.uid else [box.msn(u) for u in result.failed]
        code = "MODIFIED " + compress(failed).decode()
        return response.tagged(cmd.tag, "OK", "Conditional store failed", code)
    return response.tagged(cmd.tag, "OK", "Store completed")


async def copy_or_move(ctx: Context, cmd: c.Copy | c.Move) -> bytes:
    box = ctx.box()
    move = isinstance(cmd, c.Move)
    if move and box.readonly:
        return response.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
    if _bad_msn(cmd, box.exists):
        return response.tagged(cmd.tag, "BAD", "Invalid message sequence number")
    uids = box.live(box.resolve(cmd.sequence_set, cmd.uid))
    if not uids:
        what = "Move" if move else "Copy"
        return response.tagged(cmd.tag, "OK", f"{what} completed (no messages)")
    try:
        if move:
            result = await ctx.mailboxes.move(
                ctx.account_id, box.mailbox_id, UidSet.of(uids), cmd.mailbox
            )
        else:
            result = await ctx.mailboxes.copy(
                ctx.account_id, box.mailbox_id, UidSet.of(uids), cmd.mailbox
            )
    except MailgateError as exc:
        return no_for(cmd.tag, exc, missing="TRYCREATE")
    code = None
    if result.pairs:
        src = compress(s for s, _ in result.pairs).decode()
        dst = compress(d for _, d in result.pairs).decode()
        code = f"COPYUID {result.uidvalidity} {src} {dst}"
    if not move:
        return response.tagged(cmd.tag, "OK", "Copy completed", code)
    if code is not None:
        ctx.out.write(response.status_line("OK", "Moved", code))
    ctx.out.write(box.expunge_lines(result.expunged, ctx.qresync))
    return response.tagged(cmd.tag, "OK", "Move completed")


async def expunge(ctx: Context, cmd: c.Expunge) -> bytes:
    box = ctx.box()
    if box.readonly:
        return response.tagged(cmd.tag, "NO", "Mailbox is read-only", "READ-ONLY")
    uids = None
    if cmd.uid_set is not None:
        uids = UidSet.of(box.resolve(cmd.uid_set, True))
        if not uids:
            return response.tagged(cmd.tag, "OK", "Expunge completed")
    try:
        gone = await ctx.mailboxes.expunge(ctx.account_id, box.mailbox_id, uids)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    ctx.out.write(box.expunge_lines(gone, ctx.qresync))
    return response.tagged(cmd.tag, "OK", "Expunge completed")


async def close(ctx: Context, cmd: c.Close) -> bytes:
    box = ctx.box()
    if not box.readonly:
        with contextlib.suppress(MailgateError):  # closed whatever happened to it
            await ctx.mailboxes.expunge(ctx.account_id, box.mailbox_id)
    ctx.unselect()
    return response.tagged(cmd.tag, "OK", "Close completed")


async def unselect(ctx: Context, cmd: c.Unselect) -> bytes:
    ctx.unselect()
    return response.tagged(cmd.tag, "OK", "Unselect completed")
