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
