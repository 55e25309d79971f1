"""What a password problem says, in each of the product's languages.

`PasswordProblem.key` (see mailgate.domain.passwords) names an entry of `MESSAGES`; the entry has
one template per language in `LANGUAGES` (the locale ids used by accounts and the web console),
with `{name}` placeholders filled from `PasswordProblem.params`. The texts tell the person what to
change; they never repeat the password.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_LANGUAGE = "en"

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "password.too_short": {
        "en": "Use at least {min_length} characters.",
        "zh_Hans": "密码至少需要 {min_length} 个字符。",
        "zh_Hant": "密碼至少需要 {min_length} 個字元。",
    },
    "password.too_long": {
        "en": "Use at most {max_length} characters.",
        "zh_Hans": "密码最多 {max_length} 个字符。",
        "zh_Hant": "密碼最多 {max_length} 個字元。",
    },
    "password.unsupported_character": {
        "en": "The password contains a control character or an unassigned character.",
        "zh_Hans": "密码包含控制字符或未分配的字符。",
        "zh_Hant": "密碼包含控制字元或未指派的字元。",
    },
    "password.common_password": {
        "en": "This password is too common or too close to a commonly used password.",
        "zh_Hans": "该密码过于常见，或与常用密码过于相似。",
        "zh_Hant": "此密碼過於常見，或與常用密碼過於相似。",
    },
    "password.contains_context_word.name": {
        "en": "The password must not contain your name (in any script or in pinyin).",
        "zh_Hans": "密码不能包含您的姓名（包括中文、英文或拼音形式）。",
        "zh_Hant": "密碼不能包含您的姓名（包括中文、英文或拼音形式）。",
    },
    "password.contains_context_word.employee_id": {
        "en": "The password must not contain your employee ID.",
        "zh_Hans": "密码不能包含您的工号。",
        "zh_Hant": "密碼不能包含您的員工編號。",
    },
    "password.contains_context_word.mail_address": {
        "en": "The password must not contain your mail address or user name.",
        "zh_Hans": "密码不能包含您的邮箱地址或用户名。",
        "zh_Hant": "密碼不能包含您的郵件地址或使用者名稱。",
    },
    "password.contains_context_word.domain": {
        "en": "The password must not contain the mail domain.",
        "zh_Hans": "密码不能包含邮箱域名。",
        "zh_Hant": "密碼不能包含郵件網域名稱。",
    },
    "password.contains_context_word.organisation": {
        "en": "The password must not contain the organisation's name.",
        "zh_Hans": "密码不能包含组织（公司）名称。",
        "zh_Hant": "密碼不能包含組織（公司）名稱。",
    },
    "password.contains_context_word.other": {
        "en": "The password must not contain the name of this service.",
        "zh_Hans": "密码不能包含本服务的名称。",
        "zh_Hant": "密碼不能包含本服務的名稱。",
    },
    "password.repetitive": {
        "en": "The password is mostly repeated characters or repeated parts.",
        "zh_Hans": "密码大部分由重复的字符或重复的片段组成。",
        "zh_Hant": "密碼大部分由重複的字元或重複的片段組成。",
    },
    "password.sequence": {
        "en": "The password is mostly a sequence such as abcd or 1234.",
        "zh_Hans": "密码大部分是连续序列，例如 abcd 或 1234。",
        "zh_Hant": "密碼大部分是連續序列，例如 abcd 或 1234。",
    },
    "password.keyboard_walk": {
        "en": "The password is mostly a row or path on the keyboard such as qwerty or 1qaz2wsx.",
        "zh_Hans": "密码大部分是键盘上相邻的按键，例如 qwerty 或 1qaz2wsx。",
        "zh_Hant": "密碼大部分是鍵盤上相鄰的按鍵，例如 qwerty 或 1qaz2wsx。",
    },
    "password.date": {
        "en": "The password is mostly a date or a year.",
        "zh_Hans": "密码大部分是日期或年份。",
        "zh_Hant": "密碼大部分是日期或年份。",
    },
    "password.composition": {
        "en": (
            "Use at least {classes} kinds of characters (lower-case letters, capital letters, "
            "digits, symbols, other letters such as Chinese)."
        ),
        "zh_Hans": "至少使用 {classes} 类字符（小写字母、大写字母、数字、符号、中文等其他文字）。",
        "zh_Hant": "至少使用 {classes} 類字元（小寫字母、大寫字母、數字、符號、中文等其他文字）。",
    },
    "password.breached": {
        "en": "This password has appeared in a data breach. Choose a different one.",
        "zh_Hans": "该密码曾出现在数据泄露事件中，请换一个密码。",
        "zh_Hant": "此密碼曾出現在資料外洩事件中，請換一個密碼。",
    },
    "password.expires_soon": {
        "en": "Your password expires in {days} days, on {expires_on}. Change it before then.",
        "zh_Hans": "您的密码将在 {days} 天后（{expires_on}）过期，请在此之前修改。",
        "zh_Hant": "您的密碼將在 {days} 天後（{expires_on}）過期，請在此之前變更。",
    },
    "password.expired": {
        "en": "Your password expired on {expires_on}. Choose a new one.",
        "zh_Hans": "您的密码已于 {expires_on} 过期，请设置新密码。",
        "zh_Hant": "您的密碼已於 {expires_on} 過期，請設定新密碼。",
    },
}

_HANT_REGIONS = frozenset({"tw", "hk", "mo"})


def language_for(tag: str) -> str:
    """One of `LANGUAGES` for a locale id or BCP 47 tag: zh-CN/zh-Hans/zh -> zh_Hans,
    zh-TW/zh-HK/zh-MO/zh-Hant -> zh_Hant, anything else -> en."""
    parts = tag.replace("_", "-").casefold().split("-")
    if parts[0] != "zh":
        return DEFAULT_LANGUAGE
    rest = set(parts[1:])
    return "zh_Hant" if "hant" in rest or rest & _HANT_REGIONS else "zh_Hans"


def render(key: str, language: str, params: Mapping[str, str | int] | None = None) -> str:
    """The message `key` in `language` (see `language_for`), with `params` filled in."""
    templates = MESSAGES[key]
    template = templates.get(language) or templates[language_for(language)]
    return template.format_map(dict(params or {}))
