"""Mailbox commands: SELECT/EXAMINE (CONDSTORE, QRESYNC), CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, STATUS, APPEND (MULTIAPPEND, APPENDUID), GETQUOTA, GETQUOTAROOT, NAMESPACE."""

from __future__ import annotations

from mailgate.domain.errors import MailgateError, NotFound, RuleViolation
from mailgate.domain.mail import SpecialUse
from mailgate.domain.mailbox import FolderStatus, NewAppend, UidSet

from . import commands as c
from . import response
from .context import Context, no_for
from .sequence import STAR, compress
from .state import PERMANENT, Selected, split_flags

__all__ = [
    "append",
    "create",
    "delete",
    "getquota",
    "getquotaroot",
    "namespace",
    "rename",
    "select",
    "status",
    "status_items",
    "subscribe",
]

_SPECIAL = {u.value.lower(): u for u in SpecialUse}


async def select(ctx: Context, cmd: c.Select) -> bytes:
    tag = cmd.tag
    if cmd.qresync is not None and not ctx.qresync:
        return response.tagged(tag, "BAD", "QRESYNC is not enabled")
    had_selection = ctx.selected is not None
    ctx.unselect()
    if had_selection and ctx.qresync:
        ctx.out.write(response.status_line("OK", "Previous mailbox closed", "CLOSED"))
    try:
        snap = await ctx.mailboxes.select(ctx.account_id, cmd.mailbox)
    except NotFound:
        return response.tagged(tag, "NO", "No such mailbox", "NONEXISTENT")
    except MailgateError as exc:
        return no_for(tag, exc)
    if cmd.condstore:
        ctx.condstore = True
    box = Selected.from_snapshot(snap, cmd.readonly)
    ctx.select(box)
    out = bytearray(box.flags_line())
    permanent = () if box.readonly else (*PERMANENT, *sorted(box.keywords), "\\*")
    out += response.status_line(
        "OK", "Flags permitted", "PERMANENTFLAGS " + " ".join(permanent).join("()")
    )
    out += b"* %d EXISTS\r\n" % box.exists
    if not ctx.rev2:
        out += b"* 0 RECENT\r\n"
        unseen = box.first_unseen()
        if unseen:
            out += response.status_line("OK", "First unseen", f"UNSEEN {unseen}")
    out += response.status_line("OK", "UIDs valid", f"UIDVALIDITY {box.uidvalidity}")
    out += response.status_line("OK", "Predicted next UID", f"UIDNEXT {box.uidnext}")
    out += response.status_line("OK", "Highest", f"HIGHESTMODSEQ {box.highestmodseq}")
    ctx.out.write(bytes(out))
    if cmd.qresync is not None and cmd.qresync.uidvalidity == box.uidvalidity:
        await _resync(ctx, box, cmd.qresync)
    code = "READ-ONLY" if box.readonly else "READ-WRITE"
    return response.tagged(
        tag, "OK", "EXAMINE completed" if box.readonly else "Select completed", code
    )


async def _resync(ctx: Context, box: Selected, qr: c.QResync) -> None:
    """RFC 7162 3.2.5.2: VANISHED (EARLIER) for expunged known UIDs, FETCH for changed ones."""
    known = None
    if qr.known_uids is not None:
        top = box.uidnext
        known = UidSet.from_ranges(
            (top if a == STAR else a, top if b == STAR else b) for a, b in qr.known_uids.ranges
        )
    changes = await ctx.mailboxes.changes(ctx.account_id, box.mailbox_id, qr.modseq, known)
    out = bytearray()
    if changes.vanished:
        out += b"* VANISHED (EARLIER) " + compress(changes.vanished) + b"\r\n"
    for st in changes.changed:
        if box.msn(st.uid):
            out += box.fetch_line(box.states[st.uid], uid=True, modseq=True)
    if out:
        ctx.out.write(bytes(out))


async def create(ctx: Context, cmd: c.Create) -> bytes:
    use = None
    for name in cmd.special_use:
        use = _SPECIAL.get(name.lower())
        if use is None:
            return response.tagged(cmd.tag, "NO", "Unknown special-use", "USEATTR")
    try:
        await ctx.mailboxes.create(ctx.account_id, cmd.mailbox, use)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    return response.tagged(cmd.tag, "OK", "Create completed")


async def delete(ctx: Context, cmd: c.Delete) -> bytes:
    if ctx.selected is not None and ctx.selected.name == cmd.mailbox:
        ctx.unselect()
    try:
        await ctx.mailboxes.delete(ctx.account_id, cmd.mailbox)
    except RuleViolation:
        return response.tagged(cmd.tag, "NO", "INBOX cannot be deleted", "CANNOT")
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    return response.tagged(cmd.tag, "OK", "Delete completed")


async def rename(ctx: Context, cmd: c.Rename) -> bytes:
    try:
        await ctx.mailboxes.rename(ctx.account_id, cmd.mailbox, cmd.new_name)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    return response.tagged(cmd.tag, "OK", "Rename completed")


async def subscribe(ctx: Context, cmd: c.Subscribe | c.Unsubscribe) -> bytes:
    wanted = isinstance(cmd, c.Subscribe)
    try:
        await ctx.mailboxes.set_subscribed(ctx.account_id, cmd.mailbox, wanted)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    return response.tagged(cmd.tag, "OK", "Subscribe completed" if wanted else "Unsubscribed")


def status_items(ctx: Context, st: FolderStatus, items: tuple[str, ...]) -> bytes:
    """``* STATUS name (MESSAGES 3 UIDNEXT 7 ...)``."""
    values = {
        "MESSAGES": st.messages,
        "UIDNEXT": st.uidnext,
        "UIDVALIDITY": st.uidvalidity,
        "UNSEEN": st.unseen,
        "DELETED": st.deleted,
        "SIZE": st.size,
        "RECENT": 0,
        "HIGHESTMODSEQ": st.highestmodseq,
        "APPENDLIMIT": ctx.append_limit,
    }
    parts: list[bytes] = []
    for item in items:
        if item == "MAILBOXID":
            parts.append(b"MAILBOXID (F%d)" % st.id)
        elif item in values:
            parts.append(b"%s %d" % (item.encode("ascii"), values[item]))
    if "HIGHESTMODSEQ" in items:
        ctx.condstore = True
    return response.untagged(b"STATUS", ctx.mailbox_name(st.name), response.paren_list(parts))


async def status(ctx: Context, cmd: c.Status) -> bytes:
    try:
        st = await ctx.mailboxes.status(ctx.account_id, cmd.mailbox)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    ctx.out.write(status_items(ctx, st, cmd.items))
    return response.tagged(cmd.tag, "OK", "Status completed")


async def append(ctx: Context, cmd: c.Append) -> bytes:
    items: list[NewAppend] = []
    for m in cmd.messages:
        bits, kws = split_flags(m.flags)
        items.append(NewAppend(m.data, bits, kws, m.internal_date))
    try:
        result = await ctx.mailboxes.append(ctx.account_id, cmd.mailbox, items)
    except MailgateError as exc:
        return no_for(cmd.tag, exc, missing="TRYCREATE")
    code = f"APPENDUID {result.uidvalidity} {compress(result.uids).decode()}"
    return response.tagged(cmd.tag, "OK", "Append completed", code)


async def _quota_line(ctx: Context) -> bytes:
    q = await ctx.mailboxes.quota(ctx.account_id)
    return b'* QUOTA "" (STORAGE %d %d)\r\n' % (q.storage_used_kib, q.storage_limit_kib)


async def getquota(ctx: Context, cmd: c.GetQuota) -> bytes:
    if cmd.root != "":
        return response.tagged(cmd.tag, "NO", "No such quota root", "NONEXISTENT")
    ctx.out.write(await _quota_line(ctx))
    return response.tagged(cmd.tag, "OK", "Getquota completed")


async def getquotaroot(ctx: Context, cmd: c.GetQuotaRoot) -> bytes:
    try:
        await ctx.mailboxes.status(ctx.account_id, cmd.mailbox)
    except MailgateError as exc:
        return no_for(cmd.tag, exc)
    line = response.untagged(b"QUOTAROOT", ctx.mailbox_name(cmd.mailbox), b'""')
    ctx.out.write(line + await _quota_line(ctx))
    return response.tagged(cmd.tag, "OK", "Getquotaroot completed")


async def namespace(ctx: Context, cmd: c.Namespace) -> bytes:
    ctx.out.write(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
    return response.tagged(cmd.tag, "OK", "Namespace completed")
