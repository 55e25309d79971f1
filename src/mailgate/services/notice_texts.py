# ruff: noqa: E501 - long localised texts read better unbroken
"""The words of every notice (domain.notices.NoticeKind) in each of the product's languages.

Each entry has a subject and a body per language, with `{name}` placeholders filled from the
notice's parameters; `SMS` has the short text a phone gets. Missing parameters render as "".
Notices never contain a password or a secret; codes appear only in the *_CODE notices.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

from mailgate.domain.notices import NoticeKind

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_LANGUAGE = "en"

_FOOTER = {
    "en": "\n\nIf this was not you, open {portal}/account/security at once and choose "
    '"This wasn\'t me", or contact your IT desk.\n\n— Mailgate, {address}',
    "zh_Hans": "\n\n如果这不是您本人的操作，请立即打开 {portal}/account/security 并选择"
    "“这不是我”，或联系公司 IT 服务台。\n\n— Mailgate，{address}",
    "zh_Hant": "\n\n如果這不是您本人的操作，請立即開啟 {portal}/account/security 並選擇"
    "「這不是我」，或聯絡公司 IT 服務台。\n\n— Mailgate，{address}",
}

# Closing of the notices about an administrator's action (no "this wasn't me": it was an admin).
_DESK = {
    "en": "\n\nIf you have questions, contact your IT desk. {helpdesk}\n\n— Mailgate, {address}",
    "zh_Hans": "\n\n如有疑问，请联系公司 IT 服务台。{helpdesk}\n\n— Mailgate，{address}",
    "zh_Hant": "\n\n如有疑問，請聯絡公司 IT 服務台。{helpdesk}\n\n— Mailgate，{address}",
}

# kind -> language -> (subject, body); bodies of account notices get _FOOTER appended.
TEXTS: Mapping[NoticeKind, Mapping[str, tuple[str, str]]] = {
    NoticeKind.PASSWORD_CHANGED: {
        "en": ("Your password was changed", "The password of {address} was changed at {time}."),
        "zh_Hans": ("您的密码已修改", "邮箱 {address} 的密码已于 {time} 修改。"),
        "zh_Hant": ("您的密碼已變更", "郵箱 {address} 的密碼已於 {time} 變更。"),
    },
    NoticeKind.PASSWORD_RESET: {
        "en": (
            "Your password was reset",
            "The password of {address} was reset at {time} from {ip}. Every signed-in session "
            "was ended and every app password and API token was revoked; set up your mail apps "
            "again with new app passwords.",
        ),
        "zh_Hans": (
            "您的密码已重置",
            "邮箱 {address} 的密码已于 {time} 从 {ip} 重置。所有登录会话均已结束，所有客户端专用密码"
            "和 API 令牌均已撤销；请为邮件客户端重新创建客户端专用密码。",
        ),
        "zh_Hant": (
            "您的密碼已重設",
            "郵箱 {address} 的密碼已於 {time} 從 {ip} 重設。所有登入工作階段均已結束，所有用戶端專用"
            "密碼和 API 權杖均已撤銷；請為郵件用戶端重新建立用戶端專用密碼。",
        ),
    },
    NoticeKind.SECOND_FACTOR_ADDED: {
        "en": ("A sign-in method was added", "{factor} was added to {address} at {time}."),
        "zh_Hans": ("已添加登录验证方式", "{time}，邮箱 {address} 添加了 {factor}。"),
        "zh_Hant": ("已新增登入驗證方式", "{time}，郵箱 {address} 新增了 {factor}。"),
    },
    NoticeKind.SECOND_FACTOR_REMOVED: {
        "en": ("A sign-in method was removed", "{factor} was removed from {address} at {time}."),
        "zh_Hans": ("已移除登录验证方式", "{time}，邮箱 {address} 移除了 {factor}。"),
        "zh_Hant": ("已移除登入驗證方式", "{time}，郵箱 {address} 移除了 {factor}。"),
    },
    NoticeKind.RECOVERY_CODES_REGENERATED: {
        "en": (
            "New recovery codes were made",
            "New recovery codes were made for {address} at {time}; the old ones no longer work.",
        ),
        "zh_Hans": (
            "已生成新的恢复码",
            "{time}，邮箱 {address} 生成了新的恢复码，旧的恢复码已失效。",
        ),
        "zh_Hant": (
            "已產生新的復原碼",
            "{time}，郵箱 {address} 產生了新的復原碼，舊的復原碼已失效。",
        ),
    },
    NoticeKind.RECOVERY_CONTACT_ADDED: {
        "en": (
            "A recovery contact was added",
            "{contact} was added as a recovery contact of {address} at {time}.",
        ),
        "zh_Hans": (
            "已添加备用联系方式",
            "{time}，{contact} 被添加为邮箱 {address} 的备用联系方式。",
        ),
        "zh_Hant": (
            "已新增備用聯絡方式",
            "{time}，{contact} 被新增為郵箱 {address} 的備用聯絡方式。",
        ),
    },
    NoticeKind.RECOVERY_CONTACT_REMOVED: {
        "en": (
            "A recovery contact was removed",
            "{contact} is no longer a recovery contact of {address} (since {time}).",
        ),
        "zh_Hans": (
            "已移除备用联系方式",
            "{time}，{contact} 已不再是邮箱 {address} 的备用联系方式。",
        ),
        "zh_Hant": (
            "已移除備用聯絡方式",
            "{time}，{contact} 已不再是郵箱 {address} 的備用聯絡方式。",
        ),
    },
    NoticeKind.APP_PASSWORD_CREATED: {
        "en": (
            "An app password was created",
            'An app password named "{name}" was created for {address} at {time}.',
        ),
        "zh_Hans": (
            "已创建客户端专用密码",
            "{time}，邮箱 {address} 创建了名为“{name}”的客户端专用密码。",
        ),
        "zh_Hant": (
            "已建立用戶端專用密碼",
            "{time}，郵箱 {address} 建立了名為「{name}」的用戶端專用密碼。",
        ),
    },
    NoticeKind.SESSIONS_ENDED: {
        "en": (
            "Your sessions were ended",
            "{count} signed-in sessions of {address} were ended at {time}.",
        ),
        "zh_Hans": ("登录会话已结束", "{time}，邮箱 {address} 的 {count} 个登录会话已被结束。"),
        "zh_Hant": (
            "登入工作階段已結束",
            "{time}，郵箱 {address} 的 {count} 個登入工作階段已被結束。",
        ),
    },
    NoticeKind.NEW_SIGN_IN: {
        "en": (
            "New sign-in to your mailbox",
            "{address} was signed in to at {time} from a new {what}:\n\n"
            "  Program: {device}\n  Network address: {ip}\n  Way: {protocol}",
        ),
        "zh_Hans": (
            "您的邮箱有新的登录",
            "{time}，邮箱 {address} 在新的{what}上登录：\n\n  程序：{device}\n  网络地址：{ip}\n"
            "  方式：{protocol}",
        ),
        "zh_Hant": (
            "您的郵箱有新的登入",
            "{time}，郵箱 {address} 在新的{what}上登入：\n\n  程式：{device}\n  網路位址：{ip}\n"
            "  方式：{protocol}",
        ),
    },
    NoticeKind.ACCOUNT_LOCKED_DOWN: {
        "en": (
            "Your account was secured",
            "At {time} {address} was secured: every session was ended, every app password and "
            "API token revoked, any forwarding of your mail removed, and a new password is "
            "required. {reason}",
        ),
        "zh_Hans": (
            "您的账户已被保护",
            "{time}，邮箱 {address} 已被保护：所有会话已结束，所有客户端专用密码和 API 令牌已撤销，邮件转发（如有）已删除，需要设置新密码。{reason}",
        ),
        "zh_Hant": (
            "您的帳戶已被保護",
            "{time}，郵箱 {address} 已被保護：所有工作階段已結束，所有用戶端專用密碼和 API 權杖已撤銷，郵件轉寄（如有）已移除，需要設定新密碼。{reason}",
        ),
    },
    NoticeKind.FAILURE_BURST: {
        "en": (
            "Security alert: many failed sign-ins on {account}",
            "{failures} failed sign-ins from {ips} network addresses hit {account} within "
            "{window} minutes (until {time}). The web now asks that account for its second "
            "factor. Review the login records: {portal}/admin/logins?account={account}",
        ),
        "zh_Hans": (
            "安全警报：{account} 出现大量登录失败",
            "{window} 分钟内（截至 {time}），来自 {ips} 个网络地址的 {failures} 次登录失败针对 {account}。"
            "网页登录现在要求该账户进行第二因素验证。请查看登录记录：{portal}/admin/logins?account={account}",
        ),
        "zh_Hant": (
            "安全警報：{account} 出現大量登入失敗",
            "{window} 分鐘內（截至 {time}），來自 {ips} 個網路位址的 {failures} 次登入失敗針對 {account}。"
            "網頁登入現在要求該帳戶進行第二因素驗證。請查看登入記錄：{portal}/admin/logins?account={account}",
        ),
    },
    NoticeKind.NOT_ME_REPORTED: {
        "en": (
            "Security alert: {account} reported a sign-in that was not theirs",
            "At {time} the owner of {account} reported activity that was not theirs. Mailgate "
            "ended every session, revoked every app password and API token, removed any mail "
            "forwarding and requires a new password. "
            "Review the login records: {portal}/admin/logins?account={account}",
        ),
        "zh_Hans": (
            "安全警报：{account} 报告了非本人登录",
            "{time}，{account} 的使用者报告了非本人的活动。Mailgate 已结束所有会话、撤销所有客户端专用密码"
            "和 API 令牌、删除邮件转发（如有）并要求设置新密码。请查看登录记录：{portal}/admin/logins?account={account}",
        ),
        "zh_Hant": (
            "安全警報：{account} 回報了非本人登入",
            "{time}，{account} 的使用者回報了非本人的活動。Mailgate 已結束所有工作階段、撤銷所有用戶端專用"
            "密碼和 API 權杖、移除郵件轉寄（如有）並要求設定新密碼。請查看登入記錄：{portal}/admin/logins?account={account}",
        ),
    },
    NoticeKind.VERIFY_CONTACT_CODE: {
        "en": (
            "Your verification code: {code}",
            "Enter {code} on the Mailgate page to confirm this address as the recovery contact "
            "of {address}. The code is valid for {minutes} minutes. If you did not ask for it, "
            "ignore this message.",
        ),
        "zh_Hans": (
            "您的验证码：{code}",
            "请在 Mailgate 页面输入 {code}，确认此地址为邮箱 {address} 的备用联系方式。验证码 {minutes} "
            "分钟内有效。如果不是您本人操作，请忽略本邮件。",
        ),
        "zh_Hant": (
            "您的驗證碼：{code}",
            "請在 Mailgate 頁面輸入 {code}，確認此位址為郵箱 {address} 的備用聯絡方式。驗證碼 {minutes} "
            "分鐘內有效。如果不是您本人操作，請忽略本郵件。",
        ),
    },
    NoticeKind.RESET_CODE: {
        "en": (
            "Reset the password of {address}",
            "Someone asked to reset the password of {address}. Your code is {code}, or open "
            "{link}\nBoth are valid for {minutes} minutes and work once. If you did not ask for "
            "this, ignore this message: your password stays as it is.",
        ),
        "zh_Hans": (
            "重置邮箱 {address} 的密码",
            "有人申请重置邮箱 {address} 的密码。您的验证码是 {code}，也可以打开 {link}\n二者 {minutes} "
            "分钟内有效，只能使用一次。如果不是您本人申请，请忽略本邮件，密码不会改变。",
        ),
        "zh_Hant": (
            "重設郵箱 {address} 的密碼",
            "有人申請重設郵箱 {address} 的密碼。您的驗證碼是 {code}，也可以開啟 {link}\n兩者 {minutes} "
            "分鐘內有效，只能使用一次。如果不是您本人申請，請忽略本郵件，密碼不會改變。",
        ),
    },
    # --- forwarding (services.forwarding) -------------------------------------------------------
    NoticeKind.FORWARDING_CHANGED: {
        "en": ("The forwarding of your mail changed", "At {time}: {change}"),
        "zh_Hans": ("您的邮件转发设置已更改", "{time}：{change}"),
        "zh_Hant": ("您的郵件轉寄設定已變更", "{time}：{change}"),
    },
    NoticeKind.FORWARDING_VERIFY_CODE: {
        "en": (
            "Confirm mail forwarding: {code}",
            "{address} asked to forward its mail to this address. To confirm that you receive "
            "it, enter {code} on the Mailgate page. The code is valid for {minutes} minutes. If "
            "you do not expect this, ignore this message: nothing will be forwarded.",
        ),
        "zh_Hans": (
            "确认邮件转发：{code}",
            "邮箱 {address} 申请将邮件转发到此地址。请在 Mailgate 页面输入 {code} 以确认您能收到邮件。"
            "验证码 {minutes} 分钟内有效。如果您不知情，请忽略本邮件，不会有任何邮件被转发。",
        ),
        "zh_Hant": (
            "確認郵件轉寄：{code}",
            "郵箱 {address} 申請將郵件轉寄到此位址。請在 Mailgate 頁面輸入 {code} 以確認您能收到郵件。"
            "驗證碼 {minutes} 分鐘內有效。如果您不知情，請忽略本郵件，不會有任何郵件被轉寄。",
        ),
    },
    # --- administrator actions (services.account_admin) ---------------------------------------
    NoticeKind.ACCOUNT_LOCKED: {
        "en": (
            "Your account was locked",
            "At {time} an administrator locked {address}. Until it is unlocked you cannot sign "
            "in, and mail programs cannot use it.\n\nReason: {reason}" + _DESK["en"],
        ),
        "zh_Hans": (
            "您的账户已被锁定",
            "{time}，管理员锁定了邮箱 {address}。解锁之前，您无法登录，邮件客户端也无法使用它。\n\n原因：{reason}"
            + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "您的帳戶已被鎖定",
            "{time}，管理員鎖定了郵箱 {address}。解鎖之前，您無法登入，郵件用戶端也無法使用它。\n\n原因：{reason}"
            + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.ACCOUNT_UNLOCKED: {
        "en": (
            "Your account was unlocked",
            "At {time} an administrator unlocked {address}; you can sign in again." + _DESK["en"],
        ),
        "zh_Hans": (
            "您的账户已解锁",
            "{time}，管理员解锁了邮箱 {address}，您可以重新登录。" + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "您的帳戶已解鎖",
            "{time}，管理員解鎖了郵箱 {address}，您可以重新登入。" + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.PASSWORD_CHANGE_REQUIRED: {
        "en": (
            "Choose a new password",
            "At {time} an administrator asked for a new password for {address}. The next time "
            "you sign in at {portal} you will be asked to choose one." + _DESK["en"],
        ),
        "zh_Hans": (
            "请设置新密码",
            "{time}，管理员要求邮箱 {address} 设置新密码。您下次在 {portal} 登录时需要设置新密码。"
            + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "請設定新密碼",
            "{time}，管理員要求郵箱 {address} 設定新密碼。您下次在 {portal} 登入時需要設定新密碼。"
            + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.SECOND_FACTORS_RESET: {
        "en": (
            "Your sign-in methods were reset",
            "At {time} an administrator, after confirming your identity, removed every second "
            "sign-in step of {address}: authenticator apps, security keys and recovery codes. Set "
            "up a new one at {portal}/account/security." + _DESK["en"],
        ),
        "zh_Hans": (
            "您的登录验证方式已重置",
            "{time}，管理员在核实您的身份后，移除了邮箱 {address} 的全部第二步验证方式：身份验证器应用、安全密钥和恢复码。"
            "请在 {portal}/account/security 重新设置。" + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "您的登入驗證方式已重設",
            "{time}，管理員在核實您的身分後，移除了郵箱 {address} 的全部第二步驗證方式：驗證器應用程式、安全金鑰和復原碼。"
            "請在 {portal}/account/security 重新設定。" + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.SESSIONS_REVOKED: {
        "en": (
            "You were signed out everywhere",
            "At {time} an administrator ended every signed-in web session of {address} "
            "({count}). Sign in again to continue." + _DESK["en"],
        ),
        "zh_Hans": (
            "您已在所有设备上退出登录",
            "{time}，管理员结束了邮箱 {address} 的全部网页登录会话（{count} 个）。请重新登录。"
            + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "您已在所有裝置上登出",
            "{time}，管理員結束了郵箱 {address} 的全部網頁登入工作階段（{count} 個）。請重新登入。"
            + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.APP_PASSWORDS_REVOKED: {
        "en": (
            "Your app passwords were revoked",
            "At {time} an administrator revoked every app password of {address} ({count}). Mail "
            "programs that used them need new app passwords from {portal}/account/app-passwords."
            + _DESK["en"],
        ),
        "zh_Hans": (
            "您的客户端专用密码已被撤销",
            "{time}，管理员撤销了邮箱 {address} 的全部客户端专用密码（{count} 个）。使用这些密码的邮件客户端"
            "需要在 {portal}/account/app-passwords 创建新的客户端专用密码。" + _DESK["zh_Hans"],
        ),
        "zh_Hant": (
            "您的用戶端專用密碼已被撤銷",
            "{time}，管理員撤銷了郵箱 {address} 的全部用戶端專用密碼（{count} 個）。使用這些密碼的郵件用戶端"
            "需要在 {portal}/account/app-passwords 建立新的用戶端專用密碼。" + _DESK["zh_Hant"],
        ),
    },
    NoticeKind.LOCKDOWN_BY_ADMIN: {
        "en": (
            "Security: {account} was locked down",
            "At {time} {actor} locked down {account}: the account is locked, every web session "
            "was ended ({sessions}), every app password revoked ({app_passwords}), every API "
            "token revoked ({api_tokens}), mail forwarding removed ({forwarding}), and a new "
            "password is required.\n\nReason: {reason}\n\nDetails: {portal}/admin/accounts/{account}",
        ),
        "zh_Hans": (
            "安全：{account} 已被紧急锁定",
            "{time}，{actor} 紧急锁定了 {account}：账户已锁定，全部网页会话已结束（{sessions} 个），"
            "全部客户端专用密码已撤销（{app_passwords} 个），全部 API 令牌已撤销（{api_tokens} 个），"
            "邮件转发已删除（{forwarding} 个），并要求设置新密码。\n\n原因：{reason}\n\n"
            "详情：{portal}/admin/accounts/{account}",
        ),
        "zh_Hant": (
            "安全：{account} 已被緊急鎖定",
            "{time}，{actor} 緊急鎖定了 {account}：帳戶已鎖定，全部網頁工作階段已結束（{sessions} 個），"
            "全部用戶端專用密碼已撤銷（{app_passwords} 個），全部 API 權杖已撤銷（{api_tokens} 個），"
            "郵件轉寄已移除（{forwarding} 個），並要求設定新密碼。\n\n原因：{reason}\n\n"
            "詳情：{portal}/admin/accounts/{account}",
        ),
    },
    # --- onboarding intake, to an applicant's stated contact (services.applications) -------
    NoticeKind.APPLICATION_RECEIVED: {
        "en": (
            "Your mailbox application {number} was received",
            "We received your application for a mailbox at {domain} on {time}.\n\nFollow it "
            "here, answer questions from the reviewers, or withdraw it:\n{link}\n\nKeep this "
            "link to yourself: whoever has it can see and change your application. You will get "
            "a message when it is decided.\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "已收到您的邮箱申请（编号 {number}）",
            "我们已于 {time} 收到您的 {domain} 邮箱申请。\n\n您可以通过以下链接查看进度、回答审核人员的问题或撤回申请：\n{link}\n\n"
            "请妥善保管此链接，不要转给他人：持有链接的人可以查看和修改您的申请。申请有结果时我们会再通知您。\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "已收到您的郵箱申請（編號 {number}）",
            "我們已於 {time} 收到您的 {domain} 郵箱申請。\n\n您可以透過以下連結查看進度、回答審核人員的問題或撤回申請：\n{link}\n\n"
            "請妥善保管此連結，不要轉給他人：持有連結的人可以查看和修改您的申請。申請有結果時我們會再通知您。\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.TICKET_CREATED: {
        "en": (
            "Your mailbox request was passed to IT (ticket {ticket})",
            "You asked for a mailbox at {domain} on {time}. It cannot be set up by self-service "
            "for you:\n{reason}\n\nWe created IT ticket {ticket} with your request instead; the "
            "IT service desk will contact you. There is nothing more you need to do now.\n"
            "{helpdesk}\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "您的邮箱申请已转交 IT 处理（工单 {ticket}）",
            "您于 {time} 申请了 {domain} 邮箱。您的情况无法通过自助方式开通：\n{reason}\n\n"
            "我们已为您创建 IT 工单 {ticket}，IT 服务台会与您联系，您现在无需再做任何操作。\n{helpdesk}\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "您的郵箱申請已轉交 IT 處理（工單 {ticket}）",
            "您於 {time} 申請了 {domain} 郵箱。您的情況無法透過自助方式開通：\n{reason}\n\n"
            "我們已為您建立 IT 工單 {ticket}，IT 服務台會與您聯絡，您現在無需再做任何操作。\n{helpdesk}\n\n— Mailgate，{organisation}",
        ),
    },
    # --- review workflow and provisioning (services.workflow) --------------------------------
    NoticeKind.SUPERVISOR_REQUEST: {
        "en": (
            "Please approve a mailbox for {name} ({employee_id})",
            "{name} (employee ID {employee_id}) applied for a mailbox at {domain} and named you "
            "as their supervisor.\n\nDepartment: {department}\nPosition: {position}\nPurpose: "
            "{purpose}\n\nApprove or reject the application here (the link works once, until "
            "{expires}):\n{link}\n\nIf you do not know this person, reject the application and "
            "tell your IT desk.\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "请审批 {name}（{employee_id}）的邮箱申请",
            "{name}（工号 {employee_id}）申请了 {domain} 邮箱，并填写您为其直属主管。\n\n部门：{department}\n"
            "职位：{position}\n用途：{purpose}\n\n请通过以下链接批准或拒绝该申请（链接只能使用一次，{expires} 前有效）：\n{link}\n\n"
            "如果您不认识此人，请拒绝该申请并告知公司 IT 服务台。\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "請審批 {name}（{employee_id}）的郵箱申請",
            "{name}（工號 {employee_id}）申請了 {domain} 郵箱，並填寫您為其直屬主管。\n\n部門：{department}\n"
            "職位：{position}\n用途：{purpose}\n\n請透過以下連結核准或拒絕該申請（連結只能使用一次，{expires} 前有效）：\n{link}\n\n"
            "如果您不認識此人，請拒絕該申請並告知公司 IT 服務台。\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.REVIEW_REQUEST: {
        "en": (
            "Application {number} waits for your review: {name} ({employee_id})",
            "The mailbox application {number} of {name} (employee ID {employee_id}) for {domain} "
            "is waiting for the {stage} review.\n\nRoster check: {flags}\nTo be decided by: "
            "{deadline}\n\nOpen it in the review queue:\n{link}\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "邮箱申请（编号 {number}）等待您审核：{name}（{employee_id}）",
            "{name}（工号 {employee_id}）的 {domain} 邮箱申请（编号 {number}）正在等待{stage}审核。\n\n"
            "名册核对：{flags}\n审批截止：{deadline}\n\n请在审核队列中处理：\n{link}\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "郵箱申請（編號 {number}）等待您審核：{name}（{employee_id}）",
            "{name}（工號 {employee_id}）的 {domain} 郵箱申請（編號 {number}）正在等待{stage}審核。\n\n"
            "名冊核對：{flags}\n審批截止：{deadline}\n\n請在審核佇列中處理：\n{link}\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.REVIEW_REMINDER: {
        "en": (
            "Reminder: application {number} of {name} is still waiting",
            "The mailbox application {number} of {name} (employee ID {employee_id}) for {domain} "
            "has been waiting for the {stage} decision for more than {hours} hours. If nobody "
            "decides by {deadline}, it expires.\n\n{link}\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "提醒：{name} 的邮箱申请（编号 {number}）仍在等待审批",
            "{name}（工号 {employee_id}）的 {domain} 邮箱申请（编号 {number}）等待{stage}审批已超过 {hours} 小时。"
            "如果在 {deadline} 前无人处理，申请将自动失效。\n\n{link}\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "提醒：{name} 的郵箱申請（編號 {number}）仍在等待審批",
            "{name}（工號 {employee_id}）的 {domain} 郵箱申請（編號 {number}）等待{stage}審批已超過 {hours} 小時。"
            "如果在 {deadline} 前無人處理，申請將自動失效。\n\n{link}\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.APPLICATION_NEEDS_INFORMATION: {
        "en": (
            "Your mailbox application {number} needs more information",
            "A reviewer of your application for a mailbox at {domain} asks:\n\n{question}\n\n"
            "Open the tracking link from the message you got when you applied, answer there and "
            "send the application again. If you do not answer by {deadline}, the application "
            "expires.\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "您的邮箱申请（编号 {number}）需要补充信息",
            "审核人员对您的 {domain} 邮箱申请提出了以下问题：\n\n{question}\n\n"
            "请打开您提交申请时收到的邮件或短信中的跟踪链接，补充信息后重新提交。如果您在 {deadline} 前没有回复，申请将自动失效。"
            "\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "您的郵箱申請（編號 {number}）需要補充資訊",
            "審核人員對您的 {domain} 郵箱申請提出了以下問題：\n\n{question}\n\n"
            "請開啟您提交申請時收到的郵件或簡訊中的追蹤連結，補充資訊後重新提交。如果您在 {deadline} 前沒有回覆，申請將自動失效。"
            "\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.APPLICATION_REJECTED: {
        "en": (
            "Your mailbox application {number} was not approved",
            "Your application for a mailbox at {domain} was rejected on {time}.\n\nReason: "
            "{reason}\n\nIf you think this is a mistake, contact your supervisor or your IT "
            "desk.\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "您的邮箱申请（编号 {number}）未获批准",
            "您的 {domain} 邮箱申请已于 {time} 被拒绝。\n\n原因：{reason}\n\n"
            "如果您认为有误，请联系您的主管或公司 IT 服务台。\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "您的郵箱申請（編號 {number}）未獲核准",
            "您的 {domain} 郵箱申請已於 {time} 被拒絕。\n\n原因：{reason}\n\n"
            "如果您認為有誤，請聯絡您的主管或公司 IT 服務台。\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.APPLICATION_APPROVED: {
        "en": (
            "Your mailbox {address} is ready to activate",
            "Your application {number} was approved. Your new mailbox is {address}.\n\n"
            "Activate it within {hours} hours at\n{link}\nwith this one-time activation code:\n\n"
            "    {code}\n\nYou will choose a password and set up the sign-in steps your company "
            "requires. Do not share the code: it opens your new mailbox. It works once and is "
            "never shown again.\n\n— Mailgate, {organisation}",
        ),
        "zh_Hans": (
            "您的邮箱 {address} 已开通，请激活",
            "您的申请（编号 {number}）已获批准，新邮箱地址为 {address}。\n\n请在 {hours} 小时内打开\n{link}\n"
            "并输入以下一次性激活码：\n\n    {code}\n\n激活时您需要设置密码，并按公司要求完成登录安全设置。"
            "请勿将激活码告诉他人：持有激活码即可开通您的新邮箱。激活码只能使用一次，不会再次显示。\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "您的郵箱 {address} 已開通，請啟用",
            "您的申請（編號 {number}）已獲核准，新郵箱位址為 {address}。\n\n請在 {hours} 小時內開啟\n{link}\n"
            "並輸入以下一次性啟用碼：\n\n    {code}\n\n啟用時您需要設定密碼，並依公司要求完成登入安全設定。"
            "請勿將啟用碼告訴他人：持有啟用碼即可開通您的新郵箱。啟用碼只能使用一次，不會再次顯示。\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.APPLICATION_EXPIRED: {
        "en": (
            "Mailbox application {number} expired",
            "The mailbox application {number} of {name} (employee ID {employee_id}) for {domain} "
            "was not completed within {days} days, so it was closed on {time} without a mailbox. "
            "Nothing more can be done with it; {name} may apply again.\n\n— Mailgate, "
            "{organisation}",
        ),
        "zh_Hans": (
            "邮箱申请（编号 {number}）已过期",
            "{name}（工号 {employee_id}）的 {domain} 邮箱申请（编号 {number}）在 {days} 天内未完成审批，"
            "已于 {time} 自动关闭，未开通邮箱。此申请无法再处理，{name} 可以重新申请。\n\n— Mailgate，{organisation}",
        ),
        "zh_Hant": (
            "郵箱申請（編號 {number}）已逾期",
            "{name}（工號 {employee_id}）的 {domain} 郵箱申請（編號 {number}）在 {days} 天內未完成審批，"
            "已於 {time} 自動關閉，未開通郵箱。此申請無法再處理，{name} 可以重新申請。\n\n— Mailgate，{organisation}",
        ),
    },
    NoticeKind.WELCOME: {
        "en": (
            "Welcome to your mailbox {address}",
            "Your mailbox {address} is active. Welcome!\n\n"
            "To read and send mail in Thunderbird, Outlook or the mail app of your phone, add an "
            "account with these settings:\n\n{servers}\n\nUser name: {address}\nPassword: "
            "{password}\n\nYour sign-ins, second factors, recovery contacts and app passwords are "
            "at {portal}/account.\n\n— Mailgate, {address}",
        ),
        "zh_Hans": (
            "欢迎使用您的邮箱 {address}",
            "您的邮箱 {address} 已激活，欢迎使用！\n\n"
            "如需在 Thunderbird、Outlook 或手机邮件应用中收发邮件，请使用以下设置添加账户：\n\n{servers}\n\n"
            "用户名：{address}\n密码：{password}\n\n登录记录、两步验证、备用联系方式和客户端专用密码"
            "可在 {portal}/account 管理。\n\n— Mailgate，{address}",
        ),
        "zh_Hant": (
            "歡迎使用您的郵箱 {address}",
            "您的郵箱 {address} 已啟用，歡迎使用！\n\n"
            "如需在 Thunderbird、Outlook 或手機郵件應用程式中收發郵件，請使用以下設定新增帳戶：\n\n{servers}\n\n"
            "使用者名稱：{address}\n密碼：{password}\n\n登入記錄、兩步驟驗證、備用聯絡方式和用戶端專用密碼"
            "可在 {portal}/account 管理。\n\n— Mailgate，{address}",
        ),
    },
}

# The lines of the WELCOME notice (services.activation): one per protocol the account may use,
# and what to type as the password (an app password when a second factor is enrolled).
WELCOME_SERVERS: Mapping[str, Mapping[str, str]] = {
    "imap": {
        "en": "Incoming mail (IMAP): {host}, port {tls_port} with SSL/TLS, or port {port} with "
        "STARTTLS",
        "zh_Hans": "收件服务器（IMAP）：{host}，端口 {tls_port}（SSL/TLS）或端口 {port}（STARTTLS）",
        "zh_Hant": "內送郵件伺服器（IMAP）：{host}，連接埠 {tls_port}（SSL/TLS）或連接埠 {port}（STARTTLS）",
    },
    "pop3": {
        "en": "Incoming mail (POP3): {host}, port {tls_port} with SSL/TLS, or port {port} with "
        "STARTTLS",
        "zh_Hans": "收件服务器（POP3）：{host}，端口 {tls_port}（SSL/TLS）或端口 {port}（STARTTLS）",
        "zh_Hant": "內送郵件伺服器（POP3）：{host}，連接埠 {tls_port}（SSL/TLS）或連接埠 {port}（STARTTLS）",
    },
    "smtp": {
        "en": "Outgoing mail (SMTP): {host}, port {tls_port} with SSL/TLS, or port {port} with "
        "STARTTLS; it needs the same user name and password",
        "zh_Hans": "发件服务器（SMTP）：{host}，端口 {tls_port}（SSL/TLS）或端口 {port}（STARTTLS），"
        "需要使用相同的用户名和密码登录",
        "zh_Hant": "外寄郵件伺服器（SMTP）：{host}，連接埠 {tls_port}（SSL/TLS）或連接埠 {port}（STARTTLS），"
        "需要使用相同的使用者名稱和密碼登入",
    },
}
WELCOME_PASSWORD: Mapping[str, Mapping[str, str]] = {
    "password": {
        "en": "the password you chose when you activated the mailbox",
        "zh_Hans": "您激活邮箱时设置的密码",
        "zh_Hant": "您啟用郵箱時設定的密碼",
    },
    "app_password": {
        "en": "an app password. Two-step verification is on, so your main password does not "
        "work in mail programs: create one app password per program or device at "
        "{portal}/account/app-passwords",
        "zh_Hans": "客户端专用密码。您已开启两步验证，邮件客户端无法使用您的登录密码："
        "请在 {portal}/account/app-passwords 为每个程序或设备创建一个客户端专用密码",
        "zh_Hant": "用戶端專用密碼。您已開啟兩步驟驗證，郵件用戶端無法使用您的登入密碼："
        "請在 {portal}/account/app-passwords 為每個程式或裝置建立一個用戶端專用密碼",
    },
}


def welcome_params(
    language: str,
    *,
    host: str,
    ports: Mapping[str, tuple[int, int]],
    app_password: bool,
    portal: str,
) -> dict[str, str]:
    """{servers} and {password} of the WELCOME notice. `ports`: protocol ("imap", "pop3",
    "smtp") -> (STARTTLS port, implicit-TLS port), only the protocols the account may use."""
    lang = language_of(language)
    lines = [
        "- "
        + _fill(
            WELCOME_SERVERS[name][lang], {"host": host, "port": str(plain), "tls_port": str(tls)}
        )
        for name, (plain, tls) in ports.items()
        if name in WELCOME_SERVERS
    ]
    password = WELCOME_PASSWORD["app_password" if app_password else "password"][lang]
    return {"servers": "\n".join(lines), "password": _fill(password, {"portal": portal})}


# Phone texts of notices that carry more than a subject (an applicant may have only a phone).
SMS_NOTICES: Mapping[NoticeKind, Mapping[str, str]] = {
    NoticeKind.APPLICATION_RECEIVED: {
        "en": "[Mailgate] Application {number} for a mailbox at {domain} received. Follow it: {link}",
        "zh_Hans": "【Mailgate】已收到您的 {domain} 邮箱申请（编号 {number}），查看进度：{link}",
        "zh_Hant": "【Mailgate】已收到您的 {domain} 郵箱申請（編號 {number}），查看進度：{link}",
    },
    NoticeKind.TICKET_CREATED: {
        "en": "[Mailgate] Your mailbox request for {domain} was passed to IT as ticket {ticket}; "
        "the IT desk will contact you.",
        "zh_Hans": "【Mailgate】您的 {domain} 邮箱申请已转为 IT 工单 {ticket}，IT 服务台会与您联系。",
        "zh_Hant": "【Mailgate】您的 {domain} 郵箱申請已轉為 IT 工單 {ticket}，IT 服務台會與您聯絡。",
    },
    NoticeKind.APPLICATION_APPROVED: {
        "en": "[Mailgate] Your mailbox {address} is approved. Activate it within {hours} h at "
        "{link} with the code {code}. Never share it.",
        "zh_Hans": "【Mailgate】您的邮箱 {address} 已获批准。请在 {hours} 小时内打开 {link}，使用激活码 {code} 激活。请勿告诉他人。",
        "zh_Hant": "【Mailgate】您的郵箱 {address} 已獲核准。請在 {hours} 小時內開啟 {link}，使用啟用碼 {code} 啟用。請勿告訴他人。",
    },
    NoticeKind.APPLICATION_REJECTED: {
        "en": "[Mailgate] Your mailbox application {number} for {domain} was not approved: "
        "{reason}",
        "zh_Hans": "【Mailgate】您的 {domain} 邮箱申请（编号 {number}）未获批准：{reason}",
        "zh_Hant": "【Mailgate】您的 {domain} 郵箱申請（編號 {number}）未獲核准：{reason}",
    },
    NoticeKind.APPLICATION_NEEDS_INFORMATION: {
        "en": "[Mailgate] Your mailbox application {number} needs more information: {question} "
        "Answer through your tracking link.",
        "zh_Hans": "【Mailgate】您的邮箱申请（编号 {number}）需要补充信息：{question} 请通过跟踪链接回复。",
        "zh_Hant": "【Mailgate】您的郵箱申請（編號 {number}）需要補充資訊：{question} 請透過追蹤連結回覆。",
    },
    NoticeKind.APPLICATION_EXPIRED: {
        "en": "[Mailgate] Your mailbox application {number} for {domain} expired without a "
        "decision; you may apply again.",
        "zh_Hans": "【Mailgate】您的 {domain} 邮箱申请（编号 {number}）已过期，未获审批；您可以重新申请。",
        "zh_Hant": "【Mailgate】您的 {domain} 郵箱申請（編號 {number}）已逾期，未獲審批；您可以重新申請。",
    },
}

# Why self-service was refused, in plain words: the refusing setting or condition -> language.
REFUSALS: Mapping[str, Mapping[str, str]] = {
    "self_service": {
        "en": "the rule “{policy}” does not allow people in your group to apply by themselves",
        "zh_Hans": "规则“{policy}”不允许您所属的人员类别自助申请",
        "zh_Hant": "規則「{policy}」不允許您所屬的人員類別自助申請",
    },
    "roster_active": {
        "en": "the rule “{policy}” needs an active entry in the staff roster, and yours was not "
        "found or is not active",
        "zh_Hans": "规则“{policy}”要求您在员工名册中且为在职状态，但未找到您的在职记录",
        "zh_Hant": "規則「{policy}」要求您在員工名冊中且為在職狀態，但未找到您的在職記錄",
    },
    "internal_entry": {
        "en": "the rule “{policy}” only accepts applications through the internal portal or "
        "the IT service desk",
        "zh_Hans": "规则“{policy}”只接受通过内部门户或 IT 服务台提交的申请",
        "zh_Hant": "規則「{policy}」只接受透過內部入口網站或 IT 服務台提交的申請",
    },
}


def refusal_text(code: str, language: str, policy: str) -> str:
    """One reason for a refused self-service application, in `language`."""
    texts = REFUSALS.get(code)
    if texts is None:
        return f"{policy}: {code}"
    return _fill(texts[language_of(language)], {"policy": policy})


# Short texts for phones: codes and security notices.
SMS: Mapping[str, Mapping[str, str]] = {
    "code": {
        "en": "[Mailgate] Your code is {code}, valid {minutes} min. Never share it.",
        "zh_Hans": "【Mailgate】您的验证码为 {code}，{minutes} 分钟内有效，请勿告诉他人。",
        "zh_Hant": "【Mailgate】您的驗證碼為 {code}，{minutes} 分鐘內有效，請勿告訴他人。",
    },
    "notice": {
        "en": "[Mailgate] {subject} ({address}). Not you? Contact your IT desk.",
        "zh_Hans": "【Mailgate】{subject}（{address}）。如非本人操作，请联系 IT 服务台。",
        "zh_Hant": "【Mailgate】{subject}（{address}）。如非本人操作，請聯絡 IT 服務台。",
    },
}

# Words that the sign-in alerts and "this wasn't me" (services.alerts) put into the parameters
# of NEW_SIGN_IN ({what}, {device}, {protocol}) and ACCOUNT_LOCKED_DOWN ({reason}).
WORDS: Mapping[str, Mapping[str, str]] = {
    "device": {"en": "device", "zh_Hans": "设备", "zh_Hant": "裝置"},
    "network": {"en": "network", "zh_Hans": "网络", "zh_Hant": "網路"},
    "device_and_network": {
        "en": "device and network",
        "zh_Hans": "设备和网络",
        "zh_Hant": "裝置和網路",
    },
    "unknown_client": {"en": "unknown program", "zh_Hans": "未知程序", "zh_Hant": "未知程式"},
    "web": {"en": "web browser", "zh_Hans": "网页浏览器", "zh_Hant": "網頁瀏覽器"},
    "not_me": {
        "en": 'You reported activity that was not yours ("This wasn\'t me"). Sign in and choose '
        "a new password.",
        "zh_Hans": "您报告了非本人的活动（“这不是我”）。请登录并设置新密码。",
        "zh_Hant": "您回報了非本人的活動（「這不是我」）。請登入並設定新密碼。",
    },
    # The {change} of FORWARDING_CHANGED (services.forwarding); {target} is filled first.
    "forwarding_requested": {
        "en": "forwarding to {target} was requested; a code was sent there. Nothing is "
        "forwarded until it is entered.",
        "zh_Hans": "已申请将邮件转发到 {target}，验证码已发送到该地址。输入验证码之前不会转发任何邮件。",
        "zh_Hant": "已申請將郵件轉寄到 {target}，驗證碼已傳送到該位址。輸入驗證碼之前不會轉寄任何郵件。",
    },
    "forwarding_active": {
        "en": "your mail is now forwarded to {target}.",
        "zh_Hans": "您的邮件现在会转发到 {target}。",
        "zh_Hant": "您的郵件現在會轉寄到 {target}。",
    },
    "forwarding_removed": {
        "en": "forwarding to {target} was removed; your mail stays in your mailbox.",
        "zh_Hans": "已取消转发到 {target}，您的邮件将保留在您的邮箱中。",
        "zh_Hant": "已取消轉寄到 {target}，您的郵件將保留在您的郵箱中。",
    },
}


def word(name: str, language: str) -> str:
    """One of WORDS in `language` (English when it is not one of ours)."""
    return WORDS[name][language_of(language)]


ACCOUNT_NOTICES = frozenset(
    {
        NoticeKind.PASSWORD_CHANGED,
        NoticeKind.PASSWORD_RESET,
        NoticeKind.SECOND_FACTOR_ADDED,
        NoticeKind.SECOND_FACTOR_REMOVED,
        NoticeKind.RECOVERY_CODES_REGENERATED,
        NoticeKind.RECOVERY_CONTACT_ADDED,
        NoticeKind.RECOVERY_CONTACT_REMOVED,
        NoticeKind.APP_PASSWORD_CREATED,
        NoticeKind.SESSIONS_ENDED,
        NoticeKind.NEW_SIGN_IN,
        NoticeKind.ACCOUNT_LOCKED_DOWN,
        NoticeKind.FORWARDING_CHANGED,
    }
)


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, params: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Lenient(params))


def language_of(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def render(kind: NoticeKind, language: str, params: Mapping[str, str]) -> tuple[str, str]:
    """(subject, body) of a notice in `language` (English when it is not one of ours)."""
    lang = language_of(language)
    subject, body = TEXTS[kind][lang]
    if kind in ACCOUNT_NOTICES:
        body += _FOOTER[lang]
    return _fill(subject, params), _fill(body, params)


def render_sms(kind: NoticeKind, language: str, params: Mapping[str, str]) -> str:
    lang = language_of(language)
    if kind in (
        NoticeKind.VERIFY_CONTACT_CODE,
        NoticeKind.RESET_CODE,
        NoticeKind.FORWARDING_VERIFY_CODE,
    ):
        return _fill(SMS["code"][lang], params)
    if kind in SMS_NOTICES:
        return _fill(SMS_NOTICES[kind][lang], params)
    subject, _ = render(kind, lang, params)
    return _fill(SMS["notice"][lang], {**params, "subject": subject})


# Names of approval stages (policy approval_chain) and roster-check flags in review notices.
STAGE_NAMES: Mapping[str, Mapping[str, str]] = {
    "supervisor": {"en": "supervisor", "zh_Hans": "主管", "zh_Hant": "主管"},
    "it": {"en": "IT", "zh_Hans": "IT", "zh_Hant": "IT"},
    "hr": {"en": "HR", "zh_Hans": "人力资源", "zh_Hant": "人力資源"},
    "security": {"en": "security", "zh_Hans": "安全", "zh_Hant": "安全"},
}
ROSTER_FLAGS: Mapping[str, Mapping[str, str]] = {
    "match": {"en": "matches the roster", "zh_Hans": "与员工名册一致", "zh_Hant": "與員工名冊一致"},
    "not_on_roster": {
        "en": "not on the roster",
        "zh_Hans": "不在员工名册中",
        "zh_Hant": "不在員工名冊中",
    },
    "name_mismatch": {
        "en": "name differs from the roster",
        "zh_Hans": "姓名与名册不符",
        "zh_Hant": "姓名與名冊不符",
    },
    "unit_mismatch": {
        "en": "department differs from the roster",
        "zh_Hans": "部门与名册不符",
        "zh_Hant": "部門與名冊不符",
    },
    "not_active": {
        "en": "not active on the roster (left or on leave)",
        "zh_Hans": "名册中非在职状态（已离职或休假）",
        "zh_Hant": "名冊中非在職狀態（已離職或休假）",
    },
    "supervisor_mismatch": {
        "en": "supervisor differs from the roster",
        "zh_Hans": "主管与名册不符",
        "zh_Hant": "主管與名冊不符",
    },
}


def stage_name(stage: str, language: str) -> str:
    """An approval stage ("it", "supervisor" ...) in `language`."""
    return STAGE_NAMES.get(stage, {}).get(language_of(language), stage)


def roster_flags(flags: Sequence[str], language: str) -> str:
    """The roster-check flags of an application, in `language`, joined."""
    lang = language_of(language)
    return "; ".join(ROSTER_FLAGS.get(f, {}).get(lang, f) for f in flags) or "—"


# The {reason} of ACCOUNT_LOCKED_DOWN when an administrator locked the account down
# (services.account_admin): says who did it, that the account is locked, and why.
_ADMIN_LOCKDOWN_REASON = {
    "en": "An administrator did this and also locked the account; ask your IT desk to unlock "
    "it. Reason: {reason} {helpdesk}",
    "zh_Hans": "此操作由管理员执行，账户同时已被锁定，请联系公司 IT 服务台解锁。原因：{reason} {helpdesk}",
    "zh_Hant": "此操作由管理員執行，帳戶同時已被鎖定，請聯絡公司 IT 服務台解鎖。原因：{reason} {helpdesk}",
}


def admin_lockdown_reason(language: str, reason: str, helpdesk: str) -> str:
    """The reason part of an administrator's lockdown notice, in `language`."""
    text = _ADMIN_LOCKDOWN_REASON[language_of(language)]
    return _fill(text, {"reason": reason, "helpdesk": helpdesk}).strip()
