"""Data for `mailgate serve --demo`: Example Corp's structure and a roster of 50 people."""

from __future__ import annotations

import csv
import io

DEMO_REGIONS = (
    ("BJ", "北京", "Asia/Shanghai"),
    ("SH", "上海", "Asia/Shanghai"),
    ("HF", "合肥", "Asia/Shanghai"),
)
DEMO_UNITS = (
    "研发中心",
    "研发中心/平台部",
    "研发中心/移动开发部",
    "市场部",
    "人力资源部",
    "财务部",
    "信息技术部",
)
SURNAMES = (
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
    ("吴", "Wu"),
    ("周", "Zhou"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("马", "Ma"),
    ("朱", "Zhu"),
    ("胡", "Hu"),
    ("郭", "Guo"),
    ("何", "He"),
    ("林", "Lin"),
    ("罗", "Luo"),
    ("高", "Gao"),
    ("郑", "Zheng"),
    ("梁", "Liang"),
    ("谢", "Xie"),
    ("宋", "Song"),
    ("唐", "Tang"),
)
GIVEN_NAMES = (
    ("伟", "Wei"),
    ("芳", "Fang"),
    ("娜", "Na"),
    ("秀英", "Xiuying"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("丽", "Li"),
    ("强", "Qiang"),
    ("磊", "Lei"),
    ("军", "Jun"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("娟", "Juan"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("超", "Chao"),
    ("秀兰", "Xiulan"),
    ("霞", "Xia"),
    ("平", "Ping"),
    ("刚", "Gang"),
    ("桂英", "Guiying"),
    ("子涵", "Zihan"),
    ("浩然", "Haoran"),
)
_POSITIONS = (
    "工程师",
    "高级工程师",
    "产品经理",
    "市场专员",
    "HR 专员",
    "会计",
    "IT 支持",
    "部门经理",
)
_UNIT_FOR_POSITION = {
    "工程师": "研发中心/平台部",
    "高级工程师": "研发中心/移动开发部",
    "产品经理": "研发中心",
    "市场专员": "市场部",
    "HR 专员": "人力资源部",
    "会计": "财务部",
    "IT 支持": "信息技术部",
    "部门经理": "研发中心",
}
_TYPES = ("full_time",) * 7 + ("contractor", "intern", "part_time")


def demo_roster_csv(count: int = 50) -> str:
    """A roster CSV in the documented format, deterministic, with supervisors and regions."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "employee_id",
            "name_zh",
            "name_latin",
            "org_unit",
            "position",
            "region",
            "employment_type",
            "supervisor_id",
            "mobile",
            "status",
            "start_date",
            "end_date",
        ]
    )
    for i in range(count):
        zh_s, la_s = SURNAMES[(i * 7) % len(SURNAMES)]
        zh_g, la_g = GIVEN_NAMES[(i * 11 + i // 25) % len(GIVEN_NAMES)]
        position = _POSITIONS[i % len(_POSITIONS)]
        region = DEMO_REGIONS[i % len(DEMO_REGIONS)][0]
        emp = f"E{10001 + i}"
        supervisor = "" if i < 8 else f"E{10001 + (i % 8)}"
        etype = _TYPES[i % len(_TYPES)]
        end = "2027-06-30" if etype in ("contractor", "intern") else ""
        writer.writerow(
            [
                emp,
                zh_s + zh_g,
                f"{la_s} {la_g}",
                _UNIT_FOR_POSITION[position],
                position,
                region,
                etype,
                supervisor,
                f"+86138{(i * 7919) % 100000000:08d}",
                "active",
                f"20{18 + i % 7}-0{1 + i % 9}-15",
                end,
            ]
        )
    return out.getvalue()


# --- onboarding: entry points and a default policy set ------------------------------------------

# (slug, kind, networks, landing texts, reach hints): the internal portal for everyone, the
# IT service desk's ticket API, and the partner portal only from the corporate network (to
# show the "where to reach it" page from anywhere else).
DEMO_ENTRIES: tuple[tuple[str, str, tuple[str, ...], dict[str, str], dict[str, str]], ...] = (
    (
        "apply",
        "portal",
        (),
        {
            "zh_Hans": "Example Corp 的正式员工、合同工和实习生可以在这里申请公司邮箱。"
            "请准备好您的工号、所在部门、直属上级的工号和一个可以接收激活码的手机号或私人邮箱。"
            "申请提交后先由直属上级确认，再由 IT 审核；实习生的申请会转给 IT 服务台处理。",
            "zh_Hant": "Example Corp 的正式員工、合約工和實習生可以在這裡申請公司郵箱。"
            "請準備好您的工號、所屬部門、直屬主管的工號和一個可以接收啟用碼的手機號碼或私人郵箱。"
            "申請提交後先由直屬主管確認，再由 IT 審核；實習生的申請會轉給 IT 服務台處理。",
            "en": "Employees, contractors and interns of Example Corp apply for a company mailbox "
            "here. Have your employee ID, your department, your supervisor's employee ID and a "
            "mobile number or private e-mail address for the activation code ready. Your "
            "supervisor confirms the application first, then IT reviews it; interns' requests "
            "go to the IT service desk.",
        },
        {},
    ),
    (
        "it-desk",
        "ticket",
        (),
        {
            "zh_Hans": "IT 服务台的工单系统通过 API 代员工提交邮箱申请。",
            "zh_Hant": "IT 服務台的工單系統透過 API 代員工提交郵箱申請。",
            "en": "The IT service desk's ticket system files mailbox applications for employees "
            "through the API.",
        },
        {},
    ),
    (
        "partner",
        "partner",
        ("10.0.0.0/8",),
        {
            "zh_Hans": "合作伙伴人员可以在这里申请 Example Corp 邮箱。"
            "需要合作协议编号、公司内部担保人的邮箱地址和已签署的合作协议扫描件（PDF）。"
            "合作伙伴邮箱最长有效 180 天。",
            "zh_Hant": "合作夥伴人員可以在這裡申請 Example Corp 郵箱。"
            "需要合作協議編號、公司內部擔保人的郵箱位址和已簽署的合作協議掃描檔（PDF）。"
            "合作夥伴郵箱最長有效 180 天。",
            "en": "People of partner companies apply for an Example Corp mailbox here. You need "
            "the partner agreement number, the address of your sponsor inside the company and "
            "the signed agreement as a PDF. Partner mailboxes last at most 180 days.",
        },
        {
            "zh_Hans": "合作伙伴入口只能在公司网络内使用："
            "请在 Example Corp 办公室连接内网，或通过公司 VPN（vpn.example.test）访问。",
            "zh_Hant": "合作夥伴入口只能在公司網路內使用："
            "請在 Example Corp 辦公室連接內網，或透過公司 VPN（vpn.example.test）存取。",
            "en": "The partner entry works only inside the company network: connect in an "
            "Example Corp office or through the company VPN (vpn.example.test).",
        },
    ),
)

# (name, position, selector {employment_type, entry_point}, settings, conditions, description),
# applied top-down per setting (domain.policy): narrow rules first, "everyone" last.
DEMO_POLICIES: tuple[
    tuple[str, int, dict[str, str], dict[str, object], tuple[str, ...], str], ...
] = (
    (
        "interns",
        10,
        {"employment_type": "intern"},
        {"self_service": False, "max_lifetime_days": 365},
        (),
        "Interns get their mailbox through the IT service desk (a ticket), not by themselves.",
    ),
    (
        "partners",
        20,
        {"entry_point": "partner"},
        {
            "required_fields": ["name", "purpose", "agreement_number", "sponsor"],
            "required_documents": ["partner agreement"],
            "approval_chain": ["it", "security"],
            "checklist": ["agreement number valid", "sponsor confirmed"],
            "second_factor_required": True,
            "max_lifetime_days": 180,
        },
        (),
        "Partners: agreement and sponsor, IT and security approve, 2FA, at most 180 days.",
    ),
    (
        "contractors",
        30,
        {"employment_type": "contractor"},
        {"max_lifetime_days": 365, "second_factor_required": True},
        (),
        "Contractors' mailboxes end after a year and need a second factor.",
    ),
    (
        "everyone",
        1000,
        {},
        {
            "required_fields": ["employee_id", "name", "department", "purpose"],
            "approval_chain": ["supervisor", "it"],
            "checklist": ["employee ID and name match the roster"],
            "username_pattern": "{pinyin}",
        },
        (),
        "Everybody else applies themselves: the supervisor confirms, then IT reviews.",
    ),
)
