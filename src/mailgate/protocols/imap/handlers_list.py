"""LIST (LIST-EXTENDED, SPECIAL-USE, LIST-STATUS, CHILDREN) and LSUB (RFC 9051 6.3.9,
RFC 5258, RFC 6154, RFC 5819).  One call to the store lists every folder with its counts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailgate.domain.mail import HIERARCHY_DELIMITER
from mailgate.domain.mailbox import FolderStatus, parents_of

from . import commands as c
from . import response
from .context import Context
from .handlers_mailbox import status_items

__all__ = ["list_", "lsub", "pattern_regex"]

_DELIM = b'"' + HIERARCHY_DELIMITER.encode() + b'"'


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything, ``%`` anything but the delimiter; INBOX is case-insensitive."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append("[^" + re.escape(HIERARCHY_DELIMITER) + "]*")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _matches(regex: re.Pattern[str], name: str) -> bool:
    if regex.fullmatch(name):
        return True
    if name.startswith("INBOX"):
        # "inbox" and "Inbox/%" name INBOX too
        return any(regex.fullmatch(v + name[5:]) for v in ("inbox", "Inbox"))
    return False


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    status: FolderStatus | None  # None: a parent that does not exist (\NonExistent)


def _entries(folders: list[FolderStatus]) -> list[_Entry]:
    names = {f.name for f in folders}
    entries = [_Entry(f.name, f) for f in folders]
    for missing in sorted({p for f in folders for p in parents_of(f.name)} - names):
        entries.append(_Entry(missing, None))
    return entries


def _has_children(name: str, names: set[str]) -> bool:
    prefix = name + HIERARCHY_DELIMITER
    return any(n.startswith(prefix) for n in names)


async def list_(ctx: Context, cmd: c.List) -> bytes:
    if cmd.patterns == ("",) and not cmd.extended:
        ctx.out.write(b"* LIST (\\Noselect) " + _DELIM + b' ""\r\n')
        return response.tagged(cmd.tag, "OK", "List completed")
    folders = await ctx.mailboxes.folders(ctx.account_id)
    entries = _entries(folders)
    names = {e.name for e in entries}
    regexes = [pattern_regex(cmd.reference + p) for p in cmd.patterns if p]
    only_subscribed = "SUBSCRIBED" in cmd.selection
    only_special = "SPECIAL-USE" in cmd.selection
    ret = cmd.returns
    out = bytearray()
    for entry in entries:
        if not any(_matches(r, entry.name) for r in regexes):
            continue
        st = entry.status
        subscribed = st is not None and st.subscribed
        if only_subscribed and not subscribed:
            continue
        if only_special and (st is None or st.special_use is None):
            continue
        attrs: list[str] = []
        if st is None:
            attrs.append("\\NonExistent" if cmd.extended else "\\Noselect")
        attrs.append("\\HasChildren" if _has_children(entry.name, names) else "\\HasNoChildren")
        if st is not None and st.special_use is not None:
            attrs.append(st.special_use.value)
        if subscribed and (ret.subscribed or only_subscribed):
            attrs.append("\\Subscribed")
        out += response.untagged(
            b"LIST", response.flag_list(attrs), _DELIM, ctx.mailbox_name(entry.name)
        )
        if ret.status and st is not None:
            out += status_items(ctx, st, ret.status)
    ctx.out.write(bytes(out))
    return response.tagged(cmd.tag, "OK", "List completed")


async def lsub(ctx: Context, cmd: c.Lsub) -> bytes:
    if cmd.pattern == "":
        ctx.out.write(b"* LSUB (\\Noselect) " + _DELIM + b' ""\r\n')
        return response.tagged(cmd.tag, "OK", "Lsub completed")
    folders = await ctx.mailboxes.folders(ctx.account_id)
    regex = pattern_regex(cmd.reference + cmd.pattern)
    out = bytearray()
    for f in folders:
        if f.subscribed and _matches(regex, f.name):
            out += response.untagged(b"LSUB", b"()", _DELIM, ctx.mailbox_name(f.name))
    ctx.out.write(bytes(out))
    return response.tagged(cmd.tag, "OK", "Lsub completed")
