"""Password policy after NIST SP 800-63B-4 §3.1.1: length over composition, a block list, context
words, rotation only where compliance demands it.

A `PasswordPolicy` is a value object: the policy engine resolves one per account (organisation,
unit, position, region) and hands it to `check_password`, which returns every problem it finds,
each with a stable code, an English message and a key into `password_messages` for the other
languages. An empty list means the password is acceptable.

The rules, in the order they are checked:

- The password is NFKC-normalised (fullwidth `１２３` is `123`, an ideographic space is a space)
  and its length counted in code points. Any Unicode is allowed, spaces included, except control
  characters, lone surrogates and unassigned code points (they cannot be typed reliably and break
  SASL PLAIN). Nothing is ever truncated or trimmed: what is checked is what gets hashed.
- Length: at least `min_length` (15) for a password that is the only factor, at least
  `min_length_with_second_factor` (8) when the account has a second factor; at most `max_length`
  (256, never below 64). A too-long password is reported alone, without the costlier checks.
- Composition rules are off (`required_character_classes = 0`), as NIST recommends.
- Context words (`PasswordContext`): the password, case-folded, with separators and punctuation
  removed and also with leet-speak undone, must not contain the person's name (Chinese, Latin,
  pinyin), employee ID (also its digits), mail address local part, the domain's labels, or the
  organisation's name or slug. Words shorter than 4 code points (2 for CJK) are ignored.
- Block list (`BlockList`: common passwords, incl. those common among Chinese users, and
  dictionary words; `data/` holds it, `scripts/build_blocklist.py` rebuilds it). Rejected:
  1. the whole password, case-folded, without separators or with leet undone, is on the list;
  2. the password is mostly guessable. Every code point is marked that is explained by
     - separators (white space, `-`, `_`, `.`),
     - trivial patterns: runs of one character (`aaa`), a part repeated (`abab`, and any part of
       4+ code points seen earlier), sequences of 4+ (`abcd`, `4321`), keyboard walks of 4+ on
       QWERTY (`qwer`, `1qaz2wsx`), dates (`19880808`, years 1900-2099),
     - digit tokens on the list (`1314`, `520`),
     - and, once a common password word (4+ code points; from the common list only, with
       leet: a->@/4, o->0, i->1/!, l->1/|, e->3, s->$/5, t->7/+) is found: every occurrence of
       that one word plus up to 4 digits/symbols at either end (the "dictionary + mangling
       rules" attack; the word giving the largest cover counts).
     The password is rejected when fewer than `MIN_REMAINDER` (8) code points are left unmarked:
     first with the patterns alone (reported with their own codes, a list token as
     `common_password`), then with the words too (reported as `common_password`).
     So `woaini1314woaini` and `P@ssw0rd2024!` are rejected, while a passphrase such as
     `correct horse battery` passes: `horse` is common, but 14 other letters remain. Short
     passphrases built around one long common word (`plover fjord 7q`: 7 left) are refused.

Rotation (`rotation_days`) is off by default; `password_expires_on` and `expiry_warning` serve
organisations whose compliance asks for it. The block list is read from the package once per
process, on first use (about 30 ms).
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources

from mailgate.domain.errors import InvalidInput
from mailgate.domain.password_messages import render

MIN_REMAINDER = 8  # unexplained code points a password must keep beside common words/patterns
_MIN_WORD = 4  # a common word found inside a password (3 for CJK)
_MIN_TOKEN = 3  # a digit/symbol token of the common list found inside a password
_MIN_CONTEXT = 4  # a context word (2 for CJK)
_MAX_DECORATION = 4
_SEPARATORS = frozenset("-_.")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Cn"})


class ProblemCode(enum.StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    UNSUPPORTED_CHARACTER = "unsupported_character"
    COMPOSITION = "composition"
    CONTAINS_CONTEXT_WORD = "contains_context_word"
    COMMON_PASSWORD = "common_password"  # noqa: S105 - a problem code, not a secret
    REPETITIVE = "repetitive"
    SEQUENCE = "sequence"
    KEYBOARD_WALK = "keyboard_walk"
    DATE = "date"
    BREACHED = "breached"  # set by the breach check in services, never by check_password


class ContextKind(enum.StrEnum):
    NAME = "name"
    EMPLOYEE_ID = "employee_id"
    MAIL_ADDRESS = "mail_address"
    DOMAIN = "domain"
    ORGANISATION = "organisation"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PasswordProblem:
    """One reason to refuse a password. `message` is English; `key` + `params` render it in
    any language through `password_messages.render`."""

    code: ProblemCode
    key: str
    message: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @classmethod
    def of(cls, code: ProblemCode, key: str = "", **params: str | int) -> PasswordProblem:
        key = key or f"password.{code.value}"
        return cls(code, key, render(key, "en", params), params)

    def message_in(self, language: str) -> str:
        return render(self.key, language, self.params)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = 15
    min_length_with_second_factor: int = 8
    max_length: int = 256
    block_list: bool = True  # common passwords, dictionary words and trivial patterns
    context_words: bool = True
    required_character_classes: int = 0  # 0 = no composition rules (NIST)
    rotation_days: int | None = None  # None = passwords do not expire
    warn_days_before_expiry: int = 14
    breach_check_enabled: bool = False

    def __post_init__(self) -> None:
        if self.min_length_with_second_factor < 8:
            raise InvalidInput("the minimum password length is never below 8")
        if self.min_length < self.min_length_with_second_factor:
            raise InvalidInput("the single-factor minimum length is below the 2FA minimum")
        if self.max_length < max(64, self.min_length):
            raise InvalidInput("the maximum password length must allow at least 64 characters")
        if not 0 <= self.required_character_classes <= 5:
            raise InvalidInput("required character classes must be between 0 and 5")
        if self.rotation_days is not None and self.rotation_days < 1:
            raise InvalidInput("rotation days must be positive, or None for no rotation")
        if self.warn_days_before_expiry < 0:
            raise InvalidInput("the expiry warning period cannot be negative")

    def required_length(self, has_second_factor: bool) -> int:
        return self.min_length_with_second_factor if has_second_factor else self.min_length


@dataclass(frozen=True, slots=True)
class PasswordContext:
    """Words about the person and the service that must not appear in their password. The
    caller (services) computes `name_pinyin`, e.g. ("zhang wei", "wei zhang") for 张伟; each
    text counts whole without separators and, for parts of 4+ code points, by parts."""

    name_zh: str = ""
    name_latin: str = ""
    name_pinyin: tuple[str, ...] = ()
    employee_id: str = ""
    local_part: str = ""
    domain: str = ""
    org_name: str = ""
    org_slug: str = ""
    extra_words: tuple[str, ...] = ()

    def words(self) -> tuple[tuple[ContextKind, str], ...]:
        """(kind, folded word without separators) pairs, longest first within a kind."""
        found: list[tuple[ContextKind, str]] = []

        def add(kind: ContextKind, texts: Iterable[str], parts: bool = True) -> None:
            words: set[str] = set()
            for text in texts:
                words.add(_squash(_fold(text)))
                if parts:
                    words.update(_tokens(_fold(text)))
            words -= _GENERIC_WORDS
            keep = [w for w in words if len(w) >= (2 if _has_wide(w) else _MIN_CONTEXT)]
            found.extend((kind, w) for w in sorted(keep, key=lambda w: (-len(w), w)))

        add(ContextKind.NAME, (self.name_zh, self.name_latin, *self.name_pinyin))
        add(ContextKind.EMPLOYEE_ID, (self.employee_id,))
        add(ContextKind.MAIL_ADDRESS, (self.local_part,))
        add(ContextKind.DOMAIN, _domain_labels(self.domain), parts=False)
        add(ContextKind.ORGANISATION, (_strip_legal_form(self.org_name), self.org_slug))
        add(ContextKind.OTHER, self.extra_words)
        return tuple(found)


_GENERIC = """mail email smtp imap pop3 corp company group limited inc ltd gmbh co com net org
edu gov info tech global china 有限公司 公司 集团 股份有限公司"""
_GENERIC_WORDS = frozenset(_GENERIC.split())
_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "集团", "公司")


def _strip_legal_form(name: str) -> str:
    for suffix in _LEGAL_FORMS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _domain_labels(domain: str) -> list[str]:
    labels = [label for label in domain.strip(".").split(".") if label]
    out: list[str] = []
    for label in labels[:-1]:  # the top-level domain is no context word
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label.encode("ascii").decode("idna")
        out.append(label)
    return out


# --- the block list ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockList:
    """`common` entries are refused whole and found inside passwords; `dictionary` entries
    (ordinary words and names) are refused only as the whole password."""

    common: frozenset[str]
    dictionary: frozenset[str] = frozenset()
    longest: int = 0

    @classmethod
    def of(cls, common: Iterable[str], dictionary: Iterable[str] = ()) -> BlockList:
        c = frozenset(_fold(w) for w in common if w.strip())
        d = frozenset(_fold(w) for w in dictionary if w.strip()) - c
        return cls(c, d, max((len(w) for w in c), default=0))

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        folded = _fold(word)
        return folded in self.common or folded in self.dictionary

    def __len__(self) -> int:
        return len(self.common) + len(self.dictionary)


def _read_list(name: str) -> list[str]:
    data = resources.files(__package__ or "mailgate.domain").joinpath("data", name).read_bytes()
    return gzip.decompress(data).decode("utf-8").splitlines()


@cache
def packaged_block_list() -> BlockList:
    """The block list shipped in `data/`, read once per process."""
    common = _read_list("common-passwords.txt.gz")
    dictionary = _read_list("dictionary-words.txt.gz")
    return BlockList(
        frozenset(common), frozenset(dictionary), max((len(w) for w in common), default=0)
    )


# --- checking ------------------------------------------------------------------------------


def normalise_password(password: str) -> str:
    """The form that is checked and hashed: NFKC, nothing trimmed or truncated."""
    return unicodedata.normalize("NFKC", password)


def check_password(
    password: str,
    policy: PasswordPolicy,
    context: PasswordContext | None = None,
    has_second_factor: bool = False,
    block_list: BlockList | None = None,
) -> list[PasswordProblem]:
    """Every problem with `password` under `policy`; empty when it is acceptable."""
    text = normalise_password(password)
    problems: list[PasswordProblem] = []
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in text):
        problems.append(PasswordProblem.of(ProblemCode.UNSUPPORTED_CHARACTER))
    if len(text) > policy.max_length:
        problems.append(PasswordProblem.of(ProblemCode.TOO_LONG, max_length=policy.max_length))
        return problems
    required = policy.required_length(has_second_factor)
    if len(text) < required:
        problems.append(PasswordProblem.of(ProblemCode.TOO_SHORT, min_length=required))
    if policy.required_character_classes and (
        _character_classes(text) < policy.required_character_classes
    ):
        problems.append(
            PasswordProblem.of(ProblemCode.COMPOSITION, classes=policy.required_character_classes)
        )
    folded = _fold(text)
    if policy.context_words and context is not None:
        problems.extend(_context_problems(folded, context))
    if policy.block_list and folded:
        bl = block_list if block_list is not None else packaged_block_list()
        problems.extend(PasswordProblem.of(code) for code in _guessability(folded, bl))
    return problems


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _squash(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _tokens(text: str) -> list[str]:
    """Alphanumeric runs, split again where letters meet digits (E10001 -> e, 10001)."""
    out: list[str] = []
    for run in re.findall(r"[^\W_]+", text):
        out.extend(re.findall(r"\d+|[^\W\d_]+", run))
    return out


def _has_wide(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in "WF" for ch in text)


def _character_classes(text: str) -> int:
    """Lower-case ASCII, upper-case ASCII, digits, symbols, other letters (e.g. Chinese)."""
    classes = set()
    for ch in text:
        if ch.isascii() and ch.isalpha():
            classes.add("upper" if ch.isupper() else "lower")
        elif ch.isdigit():
            classes.add("digit")
        else:
            classes.add("other" if ch.isalpha() else "symbol")
    return len(classes)


_LEET = {"@": "a", "4": "a", "0": "o", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t", "+": "t"}
_LEET_I = str.maketrans({**_LEET, "1": "i", "|": "i"})
_LEET_L = str.maketrans({**_LEET, "1": "l", "|": "l"})


def _views(folded: str) -> list[str]:
    """The password as typed and with leet undone; one character for one, so spans align."""
    views = [folded]
    for table in (_LEET_I, _LEET_L):
        view = folded.translate(table)
        if view not in views:
            views.append(view)
    return views


def _context_problems(folded: str, context: PasswordContext) -> list[PasswordProblem]:
    haystacks = {_squash(view) for view in _views(folded)}
    seen: set[ContextKind] = set()
    problems = []
    for kind, word in context.words():
        if kind not in seen and any(word in h for h in haystacks):
            seen.add(kind)
            problems.append(
                PasswordProblem.of(
                    ProblemCode.CONTAINS_CONTEXT_WORD, f"password.contains_context_word.{kind}"
                )
            )
    return problems


def _span(start: int, length: int) -> int:
    return ((1 << length) - 1) << start


def _guessability(s: str, bl: BlockList) -> list[ProblemCode]:
    views = _views(s)
    whole = {s, _squash(s), *views, *(_squash(v) for v in views)}
    if any(w in bl.common or w in bl.dictionary for w in whole):
        return [ProblemCode.COMMON_PASSWORD]
    n = len(s)
    separators = 0
    for i, ch in enumerate(s):
        if ch.isspace() or ch in _SEPARATORS:
            separators |= 1 << i
    # Where patterns overlap (1234 is a sequence and a keyboard walk), the first one named here
    # explains those code points and the later ones are not reported for them.
    patterns = (
        (ProblemCode.REPETITIVE, _repeats(s)),
        (ProblemCode.SEQUENCE, _sequences(s)),
        (ProblemCode.KEYBOARD_WALK, _keyboard_walks(s)),
        (ProblemCode.DATE, _dates(s)),
        (ProblemCode.COMMON_PASSWORD, _list_tokens(s, bl)),
    )
    covered = separators
    reasons = []
    for code, mask in patterns:
        if mask & ~covered:
            reasons.append(code)
            covered |= mask
    if n - covered.bit_count() < MIN_REMAINDER and reasons:
        return reasons
    words = _word_spans(views, bl)
    if words:
        base = covered | _decorations(s)
        if n - _best_cover(base, words).bit_count() < MIN_REMAINDER:
            return [ProblemCode.COMMON_PASSWORD]
    return []


def _word_spans(views: list[str], bl: BlockList) -> dict[str, int]:
    """Common-list words of 4+ code points (3+ CJK) with at least one letter, and where they
    occur in any view, as position masks."""
    spans: dict[str, int] = {}
    for view in views:
        n = len(view)
        for i in range(n):
            for length in range(3, min(bl.longest, n - i) + 1):
                word = view[i : i + length]
                if word not in bl.common or not any(ch.isalpha() for ch in word):
                    continue
                if length < _MIN_WORD and not _has_wide(word):
                    continue
                spans[word] = spans.get(word, 0) | _span(i, length)
    return spans


def _best_cover(base: int, words: dict[str, int]) -> int:
    """The largest cover from `base` plus every occurrence of one word."""
    return max((base | mask for mask in words.values()), key=int.bit_count, default=base)


def _decorations(s: str) -> int:
    mask = 0
    lead = 0
    while lead < len(s) and not s[lead].isalpha():
        lead += 1
    if 0 < lead <= _MAX_DECORATION:
        mask |= _span(0, lead)
    trail = 0
    while trail < len(s) and not s[len(s) - 1 - trail].isalpha():
        trail += 1
    if 0 < trail <= _MAX_DECORATION:
        mask |= _span(len(s) - trail, trail)
    return mask


def _list_tokens(s: str, bl: BlockList) -> int:
    """Digit/symbol entries of the common list (`520`, `1314`, `123123`) inside the password."""
    mask = 0
    for match in re.finditer(r"[^\w\s]|\d", s):
        i = match.start()
        for length in range(_MIN_TOKEN, min(bl.longest, len(s) - i) + 1):
            token = s[i : i + length]
            if any(ch.isalpha() or ch.isspace() for ch in token):
                break
            if token in bl.common:
                mask |= _span(i, length)
    return mask


def _repeats(s: str) -> int:
    mask = 0
    for m in re.finditer(r"(.)\1{2,}|(.{2,3}?)\2+", s, re.DOTALL):
        unit = len(m.group(1) or m.group(2))
        mask |= _span(m.start() + unit, m.end() - m.start() - unit)
    i = 4
    while i <= len(s) - 4:  # a part of 4+ code points that already occurred earlier
        length = 4
        if s.find(s[i : i + length], 0, i) == -1:
            i += 1
            continue
        while i + length < len(s) and s.find(s[i : i + length + 1], 0, i) != -1:
            length += 1
        mask |= _span(i, length)
        i += length
    return mask


def _runs(s: str, linked: Callable[[str, str, str], bool], minimum: int) -> int:
    """Mask of the maximal runs of `minimum`+ characters in which each character is `linked`
    to the next one, given the one before it ("" at the start of a run)."""
    mask = 0
    start = 0
    for i in range(1, len(s) + 1):
        if i < len(s) and linked(s[i - 2] if i - 2 >= start else "", s[i - 1], s[i]):
            continue
        if i - start >= minimum:
            mask |= _span(start, i - start)
        # a run may turn (abcba): the pair that broke it can start the next one
        start = i - 1 if i < len(s) and linked("", s[i - 1], s[i]) else i
    return mask


def _sequences(s: str) -> int:
    def linked(before: str, a: str, b: str) -> bool:
        step = ord(b) - ord(a)
        if not (a.isalnum() and b.isalnum() and step in (1, -1)):
            return False
        return not before or ord(a) - ord(before) == step

    return _runs(s, linked, 4)


_KEY_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_SHIFTED_ROWS = ("~!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?")
_KEYS = {
    ch: (r, c)
    for rows in (_KEY_ROWS, _SHIFTED_ROWS)
    for r, row in enumerate(rows)
    for c, ch in enumerate(row)
}


def _keyboard_walks(s: str) -> int:
    def linked(before: str, a: str, b: str) -> bool:
        if a not in _KEYS or b not in _KEYS or b == before or _KEYS[a] == _KEYS[b]:
            return False
        (ra, ca), (rb, cb) = _KEYS[a], _KEYS[b]
        if ra == rb:
            return abs(ca - cb) == 1
        if rb == ra - 1:
            return cb in (ca, ca + 1)
        return rb == ra + 1 and cb in (ca - 1, ca)

    return _runs(s, linked, 4)


def _dates(s: str) -> int:
    mask = 0
    for run in re.finditer(r"\d{4,}", s):
        digits, base = run.group(), run.start()
        for i in range(len(digits) - 3):
            if i + 8 <= len(digits) and _is_date(digits[i : i + 8]):
                mask |= _span(base + i, 8)
            elif 1900 <= int(digits[i : i + 4]) <= 2099:
                mask |= _span(base + i, 4)
    return mask


def _is_date(digits: str) -> bool:
    for y, m, d in ((0, 4, 6), (4, 2, 0), (4, 0, 2)):  # YYYYMMDD, DDMMYYYY, MMDDYYYY
        year, month, day = int(digits[y : y + 4]), int(digits[m : m + 2]), int(digits[d : d + 2])
        if 1900 <= year <= 2099:
            try:
                date(year, month, day)
            except ValueError:
                continue
            return True
    return False


# --- rotation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpiryWarning:
    expires_on: date
    days_left: int  # 0 or less once expired
    expired: bool

    @property
    def key(self) -> str:
        return "password.expired" if self.expired else "password.expires_soon"

    def message_in(self, language: str) -> str:
        params: dict[str, str | int] = {
            "days": self.days_left,
            "expires_on": self.expires_on.isoformat(),
        }
        return render(self.key, language, params)


def password_expires_on(changed_at: date | datetime, policy: PasswordPolicy) -> date | None:
    """The day a password changed at `changed_at` expires, or None when rotation is off."""
    if policy.rotation_days is None:
        return None
    day = changed_at.date() if isinstance(changed_at, datetime) else changed_at
    return day + timedelta(days=policy.rotation_days)


def expiry_warning(
    changed_at: date | datetime, policy: PasswordPolicy, today: date
) -> ExpiryWarning | None:
    """A warning when the password expires within `warn_days_before_expiry` days of `today`
    (the user's local date) or has expired; None otherwise and when rotation is off."""
    expires_on = password_expires_on(changed_at, policy)
    if expires_on is None:
        return None
    days_left = (expires_on - today).days
    if days_left > policy.warn_days_before_expiry:
        return None
    return ExpiryWarning(expires_on, days_left, expired=days_left <= 0)


def password_expired(changed_at: date | datetime, policy: PasswordPolicy, today: date) -> bool:
    expires_on = password_expires_on(changed_at, policy)
    return expires_on is not None and today >= expires_on
