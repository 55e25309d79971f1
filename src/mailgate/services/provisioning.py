"""Provisioning (R7): the account an approved application becomes, in the approver's transaction.

`provision_in` runs inside the unit of work that takes the final approval, so the application
becomes APPROVED exactly when its account exists (or neither happens):

- the organisation row is locked and the account pool checked (PoolExhausted rolls the whole
  approval back: the application keeps waiting and the approver is told why);
- the user name comes from the policy's `username_pattern` (`username`), made unique over every
  address of the shared namespace (accounts, aliases and groups) with a numeric suffix;
- the account is PENDING_ACTIVATION and owes the first-login steps: set a password, enrol a
  second factor when the policy requires one, verify a recovery contact; its quota, end date
  (the shorter of the policy's maximum lifetime and the wanted duration) and allowed protocols
  come from the policy; it is linked to the roster entry;
- a single-use activation code (12 characters from an unambiguous alphabet, 72 hours) is stored
  only as an HMAC digest (`one_time_codes`, purpose ACTIVATION, over the *normalised* code, see
  `normalise_activation_code`) and returned once: the caller delivers it to the applicant's
  stated channel after the commit and it is never shown anywhere else.

User names from Chinese names: the family name is the first character, or the first two when they
are a compound surname (欧阳, 司马 ...); surnames read differently from the everyday reading get
their surname reading (曾 zeng, 单 shan ...). pypinyin gives the rest, without tones, ü as v.
A name in Latin script is taken in the roster's order, family name first ("Zhang Wei").

    {employee_id}  the employee ID                      E1001 -> e1001
    {pinyin}       family + given name                 张伟 -> zhangwei, 欧阳子涵 -> ouyangzihan
    {family}       family name                         张伟 -> zhang,    欧阳子涵 -> ouyang
    {given}        given name                          张伟 -> wei,      欧阳子涵 -> zihan
    {initials}     first letter of each given syllable 张伟 -> w,        欧阳子涵 -> zh
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from pypinyin import Style, lazy_pinyin

from mailgate.domain.access import SYSTEM, Actor
from mailgate.domain.directory import (
    Account,
    AccountState,
    Domain,
    RequiredAction,
    RosterEntry,
    check_pool,
)
from mailgate.domain.errors import Conflict, NotFound
from mailgate.domain.mail import DEFAULT_FOLDERS
from mailgate.domain.names import Address
from mailgate.domain.onboarding import Application
from mailgate.domain.policy import Resolution
from mailgate.domain.ports import Clock, UnitOfWork
from mailgate.domain.recovery import CodePurpose, OneTimeCode, code_digest
from mailgate.services.audit import record

ACTIVATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
ACTIVATION_LENGTH = 12
ACTIVATION_LIFETIME = timedelta(hours=72)
DEFAULT_TIME_ZONE = "Asia/Shanghai"
MAX_LOCAL = 64
MAX_SUFFIX = 9999
# Local parts a person never gets, whatever their name (RFC 2142 and our own sender).
RESERVED = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "hostmaster",
        "mailer-daemon",
        "no-reply",
        "noreply",
        "postmaster",
        "root",
        "security",
        "webmaster",
    }
)

# Compound surnames (Simplified and Traditional) with their readings.
COMPOUND_SURNAMES = {
    "欧阳": "ouyang",
    "歐陽": "ouyang",
    "司马": "sima",
    "司馬": "sima",
    "上官": "shangguan",
    "诸葛": "zhuge",
    "諸葛": "zhuge",
    "东方": "dongfang",
    "東方": "dongfang",
    "皇甫": "huangfu",
    "尉迟": "yuchi",
    "尉遲": "yuchi",
    "公孙": "gongsun",
    "公孫": "gongsun",
    "慕容": "murong",
    "长孙": "zhangsun",
    "長孫": "zhangsun",
    "宇文": "yuwen",
    "司徒": "situ",
    "司空": "sikong",
    "夏侯": "xiahou",
    "轩辕": "xuanyuan",
    "軒轅": "xuanyuan",
    "令狐": "linghu",
    "钟离": "zhongli",
    "鍾離": "zhongli",
    "端木": "duanmu",
    "南宫": "nangong",
    "南宮": "nangong",
    "西门": "ximen",
    "西門": "ximen",
    "独孤": "dugu",
    "獨孤": "dugu",
    "百里": "baili",
    "呼延": "huyan",
    "澹台": "tantai",
    "澹臺": "tantai",
    "公冶": "gongye",
    "太史": "taishi",
    "申屠": "shentu",
    "赫连": "helian",
    "赫連": "helian",
    "万俟": "moqi",
    "萬俟": "moqi",
    "闻人": "wenren",
    "聞人": "wenren",
    "濮阳": "puyang",
    "濮陽": "puyang",
    "淳于": "chunyu",
    "单于": "chanyu",
    "單于": "chanyu",
    "拓跋": "tuoba",
}
# Single-character surnames whose surname reading is not pypinyin's everyday reading.
SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "單": "shan",
    "解": "xie",
    "区": "ou",
    "區": "ou",
    "仇": "qiu",
    "查": "zha",
    "朴": "piao",
    "秘": "bi",
    "覃": "qin",
    "盖": "ge",
    "蓋": "ge",
    "乐": "yue",
    "樂": "yue",
    "缪": "miao",
    "繆": "miao",
    "翟": "zhai",
    "种": "chong",
    "種": "chong",
    "员": "yun",
    "員": "yun",
    "召": "shao",
    "折": "she",
    "尉": "wei",
    "长": "chang",
    "長": "chang",
    "重": "chong",
    "沈": "shen",
    "殷": "yin",
    "宓": "fu",
    "阚": "kan",
    "闞": "kan",
    "隗": "wei",
    "过": "guo",
    "過": "guo",
}
_SEPARATORS = re.compile(r"[._-]{2,}")
_NOT_LOCAL = re.compile(r"[^a-z0-9._-]+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CODE_NOISE = re.compile(r"[\s\-]")


# --- activation codes --------------------------------------------------------------------------


def new_activation_code() -> str:
    """12 uniformly random characters of ACTIVATION_ALPHABET (about 59 bits)."""
    return "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_LENGTH))


def format_activation_code(code: str) -> str:
    """How a person reads the code: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_activation_code(text: str) -> str | None:
    """The canonical code (the digest is over this) from what someone typed: spaces and dashes
    ignored, any case; None when it cannot be a code."""
    compact = _CODE_NOISE.sub("", text[:64]).upper()
    if len(compact) != ACTIVATION_LENGTH or not set(compact) <= set(ACTIVATION_ALPHABET):
        return None
    return compact


async def issue_activation_code_in(
    uow: UnitOfWork, clock: Clock, account_id: int, code_key: bytes, lifetime: timedelta
) -> str:
    """Spend the account's older activation codes and store a new one (digest only); the code
    in its canonical form."""
    now = clock.now()
    await uow.one_time_codes.revoke(account_id, CodePurpose.ACTIVATION, now)
    code = new_activation_code()
    await uow.one_time_codes.add(
        OneTimeCode(
            id=0,
            account_id=account_id,
            purpose=CodePurpose.ACTIVATION,
            target="",
            digest=code_digest(code_key, CodePurpose.ACTIVATION, account_id, code),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return code


# --- user names --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameParts:
    """A person's name as lowercase ASCII syllables or words."""

    family: tuple[str, ...]
    given: tuple[str, ...]


def _is_han(ch: str) -> bool:
    return "CJK UNIFIED IDEOGRAPH" in unicodedata.name(ch, "")


def _ascii(text: str) -> str:
    """Latin text folded to lowercase ASCII (é -> e); other characters dropped."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii()).lower()


def _syllables(han: str) -> tuple[str, ...]:
    return tuple(_ascii(s) for s in lazy_pinyin(han, style=Style.NORMAL, errors="ignore"))


def name_parts(name: str) -> NameParts:
    """Family and given name of `name`: a Chinese name by its characters, else Latin words in
    the roster's order (family name first)."""
    name = unicodedata.normalize("NFKC", name).strip()
    han = "".join(ch for ch in name if _is_han(ch))
    if han:
        if "·" in name or "•" in name:  # transliterated names (阿依古丽·买买提) have no surname
            return NameParts((), _syllables(han))
        if len(han) >= 3 and han[:2] in COMPOUND_SURNAMES:
            return NameParts((COMPOUND_SURNAMES[han[:2]],), _syllables(han[2:]))
        if len(han) == 1:
            return NameParts((), _syllables(han))
        family = SURNAME_READINGS.get(han[0]) or "".join(_syllables(han[0]))
        return NameParts((family,), _syllables(han[1:]))
    words = tuple(w for w in (_ascii(part) for part in re.split(r"[\s,]+", name)) if w)
    return NameParts(words[:1], words[1:])


def _clean(text: str) -> str:
    text = _NOT_LOCAL.sub("", text.lower())
    return _SEPARATORS.sub(lambda m: m.group(0)[0], text).strip("._-")


def render_username(pattern: str, parts: NameParts, employee_id: str) -> str:
    """The policy's pattern filled in (lowercase ASCII, a-z 0-9 . _ -); "" when nothing usable
    is left."""
    values = {
        "employee_id": _clean(_ascii(employee_id)),
        "pinyin": _clean("".join(parts.family + parts.given)),
        "family": _clean("".join(parts.family)),
        "given": _clean("".join(parts.given)),
        "initials": _clean("".join(s[:1] for s in parts.given)),
    }
    filled = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), pattern)
    return _clean(filled)[: MAX_LOCAL - 5].strip("._-")


def _candidates(base: str) -> list[str]:
    joiner = "-" if base[-1].isdigit() else ""
    return [base] + [f"{base}{joiner}{n}" for n in range(2, MAX_SUFFIX + 1)]


async def free_username(uow: UnitOfWork, base: str, domain: Domain) -> Address:
    """`base@domain`, or with the lowest numeric suffix (2, 3 ...) no address uses yet."""
    for local in _candidates(base):
        if local in RESERVED:
            continue
        address = Address.parse(f"{local}@{domain.unicode_name}")
        if await uow.addresses.kind_of(address.key) is None:
            return address
    raise Conflict(
        f"every user name from {base}@{domain.unicode_name} to suffix {MAX_SUFFIX} is taken"
    )


# --- the account -------------------------------------------------------------------------------


def expiry(today: date, max_lifetime_days: int, wanted_days: int | None) -> date | None:
    """The account's end date: the shorter of the policy's maximum lifetime (0: none) and the
    duration the applicant asked for (None: none)."""
    limits = [d for d in (max_lifetime_days or None, wanted_days) if d]
    return today + timedelta(days=min(limits)) if limits else None


def required_actions(resolution: Resolution) -> list[RequiredAction]:
    actions = [RequiredAction.SET_PASSWORD]
    if resolution["second_factor_required"]:
        actions.append(RequiredAction.ENROL_SECOND_FACTOR)
    actions.append(RequiredAction.VERIFY_RECOVERY_CONTACT)
    return actions


async def _domain(uow: UnitOfWork, application: Application) -> Domain:
    for domain in await uow.domains.list(frozenset({application.org_id})):
        if domain.id == application.domain_id:
            return domain
    raise NotFound("the application's domain no longer belongs to its organisation")


async def _time_zone(uow: UnitOfWork, entry: RosterEntry | None) -> str:
    if entry is None or entry.region_id is None:
        return DEFAULT_TIME_ZONE
    for region in await uow.structure.regions(entry.org_id):
        if region.id == entry.region_id and region.time_zone:
            return region.time_zone
    return DEFAULT_TIME_ZONE


async def provision_in(
    uow: UnitOfWork,
    clock: Clock,
    application: Application,
    resolution: Resolution,
    code_key: bytes,
    *,
    actor: Actor = SYSTEM,
    lifetime: timedelta = ACTIVATION_LIFETIME,
) -> tuple[Account, str]:
    """Create the account of an approved application in the caller's transaction and return it
    with its activation code (canonical form, shown to nobody but the applicant).

    Raises PoolExhausted when the organisation's pool is full, NotFound when the organisation or
    domain is gone, Conflict when no free user name is left."""
    org = await uow.orgs.get_for_update(application.org_id)
    if org is None:
        raise NotFound("the application's organisation no longer exists")
    check_pool(org.account_pool_limit, await uow.accounts.count_in_pool(org.id))
    domain = await _domain(uow, application)
    entry = await uow.roster.by_id(application.roster_id) if application.roster_id else None
    form = application.form
    name = (entry.name_zh or entry.name_latin) if entry else form.name
    employee_id = entry.employee_id if entry else form.employee_id
    pattern = str(resolution["username_pattern"])
    base = render_username(pattern, name_parts(name), employee_id)
    base = base or render_username("{employee_id}", NameParts((), ()), employee_id) or "user"
    address = await free_username(uow, base, domain)
    await uow.addresses.claim(address.key, "account", org.id)
    now = clock.now()
    account = await uow.accounts.add(
        Account(
            id=0,
            address=str(address),
            address_key=address.key,
            org_id=org.id,
            roster_id=entry.id if entry else None,
            display_name=(entry.display_name if entry else form.name).strip() or address.local,
            state=AccountState.PENDING_ACTIVATION,
            quota=int(resolution["quota"]),
            expires_on=expiry(now.date(), resolution["max_lifetime_days"], form.duration_days),
            language=form.language,
            time_zone=await _time_zone(uow, entry),
            password_hash=None,
            required_actions=required_actions(resolution),
            created_at=now,
            allowed_protocols=tuple(resolution["allowed_protocols"]),
        )
    )
    await uow.mail.create_folders(
        account.id,
        [(folder, special.value if special else None) for folder, special in DEFAULT_FOLDERS],
        int(now.timestamp()),
    )
    code = await issue_activation_code_in(uow, clock, account.id, code_key, lifetime)
    await record(
        uow,
        clock,
        actor,
        "account.provision",
        f"account:{account.address_key}",
        org.id,
        {
            "application": application.id,
            "employee_id": employee_id,
            "username_pattern": pattern,
            "quota": account.quota,
            "expires_on": account.expires_on.isoformat() if account.expires_on else None,
            "allowed_protocols": list(account.allowed_protocols),
            "required_actions": [a.value for a in account.required_actions],
            "activation_code_expires_at": (now + lifetime).isoformat(),
        },
    )
    return account, code
