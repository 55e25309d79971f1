"""SEARCH / UID SEARCH / ESEARCH (RFC 9051 6.4.4, RFC 4731) and SORT (RFC 5256).

The store answers conjunctions of cheap criteria (``SearchCriteria``); this module evaluates
the criteria tree over the session's UIDs: flags, keywords, sequence sets and MODSEQ from
the session's own state, the rest merged into as few store queries as possible, OR and NOT
as set operations.  BODY/TEXT go to the store's full-text index (which finds 2-character
Chinese words).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from mailgate.domain.mailbox import SearchCriteria, UidSet

from . import commands as c
from . import response
from . import search as s
from .context import Context
from .state import FLAG_BITS, Selected

__all__ = ["search", "sort"]

_HEADER_FIELDS = {"FROM": "from_", "TO": "to", "CC": "cc", "SUBJECT": "subject"}
_DATE_FIELDS = {
    ("INTERNAL", "BEFORE"): "before",
    ("INTERNAL", "ON"): "on",
    ("INTERNAL", "SINCE"): "since",
    ("SENT", "BEFORE"): "sent_before",
    ("SENT", "ON"): "sent_on",
    ("SENT", "SINCE"): "sent_since",
}


def _criteria(key: s.SearchKey) -> dict[str, Any] | None:
    """The store criterion for a leaf, or None when the session answers it itself."""
    if isinstance(key, s.SearchHeader):
        attr = _HEADER_FIELDS.get(key.field)
        if attr is not None and key.value:
            return {attr: (key.value,)}
        return {"header": ((key.field, key.value),)}
    if isinstance(key, s.SearchText):
        return {"body" if key.where == "BODY" else "text": (key.value,)}
    if isinstance(key, s.SearchDate):
        return {_DATE_FIELDS[(key.field, key.op)]: key.date}
    if isinstance(key, s.SearchSize):
        return {key.op.lower(): key.size}
    return None


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> bool:
    """Add a criterion to a conjunction; False when it cannot be merged (same scalar twice)."""
    for name, value in extra.items():
        if name not in into:
            into[name] = value
        elif isinstance(value, tuple):
            into[name] = into[name] + value
        else:
            return False
    return True


class _Evaluator:
    def __init__(self, ctx: Context, box: Selected) -> None:
        self.ctx = ctx
        self.box = box
        self.all = set(box.live(box.uids))
        self.max_modseq = 0

    async def _store(self, crit: dict[str, Any]) -> set[int]:
        box = self.box
        found = await self.ctx.mailboxes.search(
            self.ctx.account_id, box.mailbox_id, SearchCriteria(**crit)
        )
        return self.all.intersection(found)

    def _local(self, key: s.SearchKey) -> set[int] | None:
        box = self.box
        if isinstance(key, s.SearchAll):
            return set(self.all)
        if isinstance(key, s.SearchFlag):
            if key.flag == "\\Recent":
                return set() if key.present else set(self.all)
            bit = FLAG_BITS.get(key.flag.lower()) if key.flag.startswith("\\") else None
            if bit is not None:
                return {u for u in self.all if bool(box.states[u].flags & bit) == key.present}
            if key.flag.startswith("\\"):
                return set() if key.present else set(self.all)
            want = key.flag.casefold()
            return {
                u
                for u in self.all
                if any(k.casefold() == want for k in box.states[u].keywords) == key.present
            }
        if isinstance(key, s.SearchSet):
            seqset = key.sequence_set.with_saved(None)
            return self.all.intersection(box.resolve(seqset, key.uid))
        if isinstance(key, s.SearchModSeq):
            found = {u for u in self.all if box.states[u].modseq >= key.modseq}
            self.max_modseq = max([self.max_modseq, *(box.states[u].modseq for u in found)])
            return found
        return None

    async def eval(self, key: s.SearchKey) -> set[int]:
        local = self._local(key)
        if local is not None:
            return local
        if isinstance(key, s.SearchNot):
            return self.all - await self.eval(key.key)
        if isinstance(key, s.SearchOr):
            return await self.eval(key.left) | await self.eval(key.right)
        if isinstance(key, s.SearchAnd):
            return await self._and(key.keys)
        if isinstance(key, s.SearchAge):
            return await self._age(key)
        crit = _criteria(key)
        return await self._store(crit or {})

    async def _and(self, keys: tuple[s.SearchKey, ...]) -> set[int]:
        result = set(self.all)
        queries: list[dict[str, Any]] = []
        others: list[s.SearchKey] = []
        for key in keys:
            local = self._local(key)
            if local is not None:
                result &= local
                continue
            crit = _criteria(key)
            if crit is None:
                others.append(key)
            elif not any(_merge(q, crit) for q in queries):
                queries.append(dict(crit))
        for q in queries:
            if not result:
                break
            q["uids"] = UidSet.of(result)
            result &= await self._store(q)
        for key in others:
            if not result:
                break
            result &= await self.eval(key)
        return result

    async def _age(self, key: s.SearchAge) -> set[int]:
        box = self.box
        metas = await self.ctx.mailboxes.fetch(
            self.ctx.account_id, box.mailbox_id, UidSet.of(self.all)
        )
        limit = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=key.seconds)
        out: set[int] = set()
        for m in metas:
            when = m.internal_date
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            if (when < limit) == (key.op == "OLDER"):
                out.add(m.uid)
        return out & self.all


def _modseq_used(key: s.SearchKey) -> bool:
    if isinstance(key, s.SearchModSeq):
        return True
    if isinstance(key, s.SearchNot):
        return _modseq_used(key.key)
    if isinstance(key, s.SearchOr):
        return _modseq_used(key.left) or _modseq_used(key.right)
    if isinstance(key, s.SearchAnd):
        return any(_modseq_used(k) for k in key.keys)
    return False


def _esearch(
    ctx: Context, tag: str, uid: bool, numbers: list[int], returns: tuple[str, ...], modseq: int
) -> bytes:
    opts = set(returns) or {"ALL"}
    parts = [b"(TAG " + response.quoted(tag) + b")"]
    if uid:
        parts.append(b"UID")
    if numbers:
        if "MIN" in opts:
            parts.append(b"MIN %d" % numbers[0])
        if "MAX" in opts:
            parts.append(b"MAX %d" % numbers[-1])
        if "ALL" in opts:
            parts.append(b"ALL " + response.sequence_set(numbers))
    if "COUNT" in opts:
        parts.append(b"COUNT %d" % len(numbers))
    if modseq and numbers:
        parts.append(b"MODSEQ %d" % modseq)
    return response.untagged(b"ESEARCH", *parts)


async def _matching(ctx: Context, criteria: s.SearchKey) -> tuple[list[int], int]:
    box = ctx.box()
    ev = _Evaluator(ctx, box)
    uids = sorted(await ev.eval(criteria))
    modseq = 0
    if _modseq_used(criteria):
        ctx.condstore = True
        modseq = max((box.states[u].modseq for u in uids), default=0)
    return uids, modseq


async def search(ctx: Context, cmd: c.Search) -> bytes:
    box = ctx.box()
    uids, modseq = await _matching(ctx, cmd.criteria)
    numbers = uids if cmd.uid else [box.msn(u) for u in uids]
    if cmd.returns is not None or ctx.rev2:
        ctx.out.write(_esearch(ctx, cmd.tag, cmd.uid, numbers, cmd.returns or (), modseq))
    else:
        line = b"* SEARCH" + b"".join(b" %d" % n for n in numbers)
        if modseq and numbers:
            line += b" (MODSEQ %d)" % modseq
        ctx.out.write(line + b"\r\n")
    return response.tagged(cmd.tag, "OK", "Search completed")


def _sort_value(key: str, meta: Any) -> Any:
    h = meta.headers
    if key == "ARRIVAL":
        return meta.internal_date.replace(tzinfo=None)
    if key == "DATE":
        d = h.date or meta.internal_date
        return d.astimezone(dt.UTC).replace(tzinfo=None) if d.tzinfo else d
    if key == "SIZE":
        return meta.size
    if key == "SUBJECT":
        subject = h.subject.strip().casefold()
        while subject[:3] in ("re:", "fw:") or subject[:4] == "fwd:":
            subject = subject.split(":", 1)[1].strip()
        return subject
    value = {"FROM": h.from_, "DISPLAYFROM": h.from_, "TO": h.to, "DISPLAYTO": h.to}.get(key, h.cc)
    return value.casefold()


async def sort(ctx: Context, cmd: c.Sort) -> bytes:
    box = ctx.box()
    uids, _ = await _matching(ctx, cmd.criteria)
    metas = await ctx.mailboxes.fetch(ctx.account_id, box.mailbox_id, UidSet.of(uids))
    ordered = sorted(metas, key=lambda m: m.uid)
    for sort_key in reversed(cmd.keys):
        name = sort_key.key
        ordered.sort(key=functools.partial(_sort_value, name), reverse=sort_key.reverse)
    numbers = [m.uid if cmd.uid else box.msn(m.uid) for m in ordered]
    if cmd.returns is not None:
        ctx.out.write(_esearch(ctx, cmd.tag, cmd.uid, sorted(numbers), cmd.returns, 0))
    else:
        ctx.out.write(b"* SORT" + b"".join(b" %d" % n for n in numbers) + b"\r\n")
    return response.tagged(cmd.tag, "OK", "Sort completed")
