"""Domain names and mail addresses: IDNA normalisation, script rules, case-insensitive keys.

Domain names are stored in their ASCII (A-label) form and shown in their Unicode form. Labels are
NFKC-normalised and case-folded, then checked against a conservative subset of IDNA 2008 and the
"highly restrictive" mixed-script profile of Unicode TS #39: a label may use one script, or Latin
together with the Han-based combinations of Chinese, Japanese and Korean. `pаypal` with a Cyrillic
`а` is refused. Local parts are compared case-insensitively (`Zhang.Wei` and `zhang.wei` are one
mailbox) while the spelling the admin chose is kept for display.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mailgate.domain.errors import InvalidAddress, InvalidDomainName

_MAX_LABEL = 63
_MAX_NAME = 253
_MAX_LOCAL = 64
_ASCII_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# RFC 5322 atext, dot-atom form; non-ASCII letters are allowed for SMTPUTF8 (RFC 6531).
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)

# Script combinations allowed inside one label (besides a single script), after UTS #39.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_SCRIPT_ALIASES = {
    "CJK": "HAN",
    "IDEOGRAPHIC": "HAN",
    "HALFWIDTH": "KATAKANA",
    "KATAKANA-HIRAGANA": "KATAKANA",
}


def _script_of(ch: str) -> str | None:
    """A coarse Unicode script name for a letter, or None for digits and the hyphen."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else None
    if unicodedata.category(ch) in ("Nd", "Mn", "Mc", "Pd"):
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return "UNKNOWN"
    first = name.split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(first, first)


def _check_scripts(label: str, original: str) -> None:
    scripts = {s for s in map(_script_of, label) if s is not None}
    if len(scripts) <= 1:
        return
    if any(scripts <= mix for mix in _ALLOWED_MIXES):
        return
    names = ", ".join(sorted(s.title() for s in scripts))
    raise InvalidDomainName(
        f"the domain name {original!r} mixes scripts ({names}) in one label; "
        "such names can imitate other domains and are refused"
    )


def _check_unicode_label(label: str, original: str) -> None:
    if label.startswith("-") or label.endswith("-"):
        raise InvalidDomainName(f"a label of {original!r} starts or ends with a hyphen")
    if len(label) >= 4 and label[2:4] == "--":
        raise InvalidDomainName(f"a label of {original!r} has '--' in the third and fourth place")
    for ch in label:
        if ch == "-" or (ch.isdigit() and ch.isascii()):
            continue
        cat = unicodedata.category(ch)
        if cat[0] not in ("L", "M") and cat != "Nd":
            raise InvalidDomainName(
                f"the domain name {original!r} contains the character {ch!r} (U+{ord(ch):04X}), "
                "which is not allowed in a domain name"
            )
    if unicodedata.category(label[0])[0] == "M":
        raise InvalidDomainName(f"a label of {original!r} starts with a combining mark")
    _check_scripts(label, original)


def _to_alabel(label: str, original: str) -> str:
    if label.isascii():
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError as exc:
                raise InvalidDomainName(f"{original!r} has an invalid punycode label") from exc
            if _to_alabel(_normalise_label(decoded), original) != label:
                raise InvalidDomainName(f"{original!r} has a punycode label that is not canonical")
            return label
        if not _ASCII_LABEL.match(label):
            raise InvalidDomainName(
                f"{original!r} is not a valid domain name: each label is 1-63 letters, digits or "
                "hyphens and may not start or end with a hyphen"
            )
        return label
    _check_unicode_label(label, original)
    alabel = "xn--" + label.encode("punycode").decode("ascii")
    if len(alabel) > _MAX_LABEL:
        raise InvalidDomainName(f"a label of {original!r} is longer than 63 octets once encoded")
    return alabel


def _normalise_label(label: str) -> str:
    return unicodedata.normalize("NFKC", label).casefold()


@dataclass(frozen=True, slots=True)
class DomainName:
    """A validated domain name. `ascii` is the A-label form used as the key."""

    ascii: str
    unicode: str

    @classmethod
    def parse(cls, text: str) -> DomainName:
        original = text
        text = unicodedata.normalize("NFKC", text.strip()).casefold()
        # Full stops of other scripts (。．｡) separate labels too (UTS #46).
        text = re.sub("[\u3002\uff0e\uff61]", ".", text).rstrip(".")
        if not text:
            raise InvalidDomainName("the domain name is empty")
        labels = text.split(".")
        if len(labels) < 2:
            raise InvalidDomainName(f"{original!r} needs at least two labels, such as example.com")
        if any(not label for label in labels):
            raise InvalidDomainName(f"{original!r} has an empty label")
        alabels = [_to_alabel(label, original) for label in labels]
        if alabels[-1].isdigit():
            raise InvalidDomainName(f"{original!r} looks like an IP address, not a domain name")
        ascii_name = ".".join(alabels)
        if len(ascii_name) > _MAX_NAME:
            raise InvalidDomainName(f"{original!r} is longer than 253 octets once encoded")
        unicode_name = ".".join(
            a[4:].encode("ascii").decode("punycode") if a.startswith("xn--") else a for a in alabels
        )
        return cls(ascii=ascii_name, unicode=unicode_name)

    def __str__(self) -> str:
        return self.unicode


def _check_local_part(local: str, original: str) -> None:
    if not local:
        raise InvalidAddress(f"{original!r} has nothing before the @")
    if len(local.encode("utf-8")) > _MAX_LOCAL:
        raise InvalidAddress(f"the part before the @ in {original!r} is longer than 64 octets")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidAddress(f"{original!r} has a dot at the start or end, or two dots in a row")
    for ch in local:
        if ch == "." or ch in _ATEXT:
            continue
        if not ch.isascii() and unicodedata.category(ch)[0] in ("L", "M", "N"):
            continue
        raise InvalidAddress(
            f"{original!r} contains {ch!r}, which is not allowed before the @ "
            "(use letters, digits and . _ - +)"
        )


@dataclass(frozen=True, slots=True)
class Address:
    """A mail address: `local` as written, `domain` validated; `key` is the unique form."""

    local: str
    domain: DomainName

    @classmethod
    def parse(cls, text: str) -> Address:
        original = text
        text = unicodedata.normalize("NFC", text.strip())
        if text.count("@") != 1:
            raise InvalidAddress(f"{original!r} is not a mail address of the form name@domain")
        local, _, domain = text.partition("@")
        _check_local_part(local, original)
        try:
            parsed = DomainName.parse(domain)
        except InvalidDomainName as exc:
            raise InvalidAddress(f"{original!r}: {exc.message}") from exc
        return cls(local=local, domain=parsed)

    @property
    def key(self) -> str:
        """Case-insensitive unique key: folded local part at the A-label domain."""
        return f"{self.local.casefold()}@{self.domain.ascii}"

    @property
    def ascii(self) -> str:
        return f"{self.local}@{self.domain.ascii}"

    def __str__(self) -> str:
        return f"{self.local}@{self.domain.unicode}"


def address_key(text: str) -> str:
    """The unique key of an address given as text; raises InvalidAddress."""
    return Address.parse(text).key
