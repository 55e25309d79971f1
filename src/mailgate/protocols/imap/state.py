"""What one IMAP session knows of its selected mailbox, and the untagged updates that keep it
in step with the store (RFC 9051 7.4.1, 7.5; RFC 7162 3.2.10 for VANISHED).

Pure: the session feeds it snapshots and change sets from the mail store and gets the bytes
of ``EXISTS`` / ``EXPUNGE`` (or ``VANISHED``) / ``FETCH`` lines back.  Message sequence
numbers are positions in :attr:`Selected.uids`.  While a command that must not see
``EXPUNGE`` runs (FETCH, STORE, SEARCH), messages removed elsewhere stay in ``uids`` as
ghosts in :attr:`Selected.gone` until an EXPUNGE may be sent.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailgate.domain.mail import FLAG_NAMES, Flag
from mailgate.domain.mailbox import Changes, MessageState, Snapshot

from . import response
from .sequence import SequenceSet, compress

__all__ = ["FLAG_BITS", "PERMANENT", "Selected", "flag_names", "split_flags"]

FLAG_BITS = {name.lower(): int(bit) for bit, name in FLAG_NAMES.items()}
PERMANENT = tuple(FLAG_NAMES[f] for f in Flag)


def flag_names(flags: int, keywords: Iterable[str]) -> list[str]:
    """``\\Seen`` ... then the keywords, in the order IMAP clients expect."""
    out = [FLAG_NAMES[f] for f in Flag if flags & f]
    out.extend(keywords)
    return out


def split_flags(names: Iterable[str]) -> tuple[int, tuple[str, ...]]:
    """IMAP flag names -> (system flag bits, keywords); ``\\Recent`` is ignored."""
    bits = 0
    kws: list[str] = []
    for name in names:
        if name.startswith("\\"):
            bit = FLAG_BITS.get(name.lower())
            if bit is not None:
                bits |= bit
        else:
            kws.append(name)
    return bits, tuple(kws)


@dataclass(slots=True)
class Selected:
    """The selected mailbox as this session last told the client."""

    mailbox_id: int
    name: str
    readonly: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    uids: list[int]
    states: dict[int, MessageState]
    gone: set[int] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)

    @classmethod
    def from_snapshot(cls, snap: Snapshot, readonly: bool) -> Selected:
        states = {m.uid: m for m in snap.messages}
        kws = {k for m in snap.messages for k in m.keywords}
        return cls(
            snap.mailbox_id,
            snap.name,
            readonly,
            snap.uidvalidity,
            snap.uidnext,
            snap.highestmodseq,
            [m.uid for m in snap.messages],
            states,
            keywords=kws,
        )

    # --- numbers --------------------------------------------------------------------------
    @property
    def exists(self) -> int:
        return len(self.uids)

    def msn(self, uid: int) -> int:
        """The message sequence number of a known UID (0 when unknown)."""
        i = bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else 0

    def resolve(self, seqset: SequenceSet, uid: bool) -> list[int]:
        """UIDs named by a sequence set (numbers beyond the mailbox are ignored for UIDs)."""
        if uid:
            return seqset.select(self.uids)
        return [self.uids[n - 1] for n in seqset.iter(len(self.uids))]

    def live(self, uids: Sequence[int]) -> list[int]:
        return [u for u in uids if u not in self.gone]

    def first_unseen(self) -> int:
        for i, u in enumerate(self.uids):
            if not self.states[u].flags & Flag.SEEN:
                return i + 1
        return 0

    def flags_line(self) -> bytes:
        names = [*PERMANENT, *sorted(self.keywords)]
        return response.untagged(b"FLAGS", response.flag_list(names))

    # --- updates ----------------------------------------------------------------------------
    def fetch_line(self, st: MessageState, *, uid: bool, modseq: bool) -> bytes:
        items = [b"FLAGS " + response.flag_list(flag_names(st.flags, st.keywords))]
        if uid:
            items.insert(0, b"UID %d" % st.uid)
        if modseq:
            items.append(b"MODSEQ (%d)" % st.modseq)
        return b"* %d FETCH (" % self.msn(st.uid) + b" ".join(items) + b")\r\n"

    def remember(self, st: MessageState) -> None:
        self.states[st.uid] = st
        new = [k for k in st.keywords if k not in self.keywords]
        self.keywords.update(new)

    def apply(self, changes: Changes, *, expunge: bool, qresync: bool, condstore: bool) -> bytes:
        """Untagged updates for a change set since :attr:`highestmodseq`."""
        out = bytearray()
        known_kws = len(self.keywords)
        last = self.uids[-1] if self.uids else 0
        fresh: list[MessageState] = []
        for st in changes.changed:
            if st.uid > last:
                fresh.append(st)
                continue
            old = self.states.get(st.uid)
            if old is None or st.uid in self.gone:
                continue
            if (old.flags, old.keywords) != (st.flags, st.keywords) or (
                condstore and old.modseq != st.modseq
            ):
                self.remember(st)
                out += self.fetch_line(st, uid=qresync, modseq=condstore)
            else:
                self.states[st.uid] = st
        self.gone.update(u for u in changes.vanished if u in self.states)
        if expunge:
            out[:0] = self.expunge_lines(sorted(self.gone), qresync)
        if fresh:
            for st in fresh:
                self.uids.append(st.uid)
                self.remember(st)
            self.uidnext = max(self.uidnext, fresh[-1].uid + 1)
            out += response.untagged(b"%d" % len(self.uids), b"EXISTS")
        if len(self.keywords) != known_kws:
            out[:0] = self.flags_line()
        self.highestmodseq = max(self.highestmodseq, changes.highestmodseq)
        return bytes(out)

    def expunge_lines(self, uids: Sequence[int], qresync: bool) -> bytes:
        """Forget these UIDs and say so: ``* n EXPUNGE`` each, or one ``* VANISHED``."""
        out = bytearray()
        removed: list[int] = []
        for uid in sorted(uids, reverse=True):
            n = self.msn(uid)
            self.gone.discard(uid)
            if not n:
                continue
            del self.uids[n - 1]
            self.states.pop(uid, None)
            removed.append(uid)
            if not qresync:
                out += b"* %d EXPUNGE\r\n" % n
        if qresync and removed:
            out += b"* VANISHED " + compress(removed) + b"\r\n"
        return bytes(out)
