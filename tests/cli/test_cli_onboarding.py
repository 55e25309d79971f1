"""`mailgate entry`, `mailgate application` and `mailgate ticket` from the command line."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from tests.cli.conftest import Mailgate
from tests.test_services_roster import ROWS, csv_bytes

from mailgate.bootstrap import Runtime
from mailgate.domain.onboarding import ApplicationForm
from mailgate.services.applications import Filed, Upload
from mailgate.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _file(env: dict[str, str], entry: str, form: ApplicationForm, ip: str) -> Filed:
    """File as an applicant would through the portal (the web page calls the same service)."""

    async def go() -> Filed:
        settings = load_settings(data_dir=Path(env["MAILGATE_DATA_DIR"]))
        async with Runtime(settings).services() as services:
            return await services.applications.file(
                entry, form, [Upload("work ID", "id.png", PNG)], client_ip=ip
            )

    return asyncio.run(go())


def test_entries_applications_and_tickets(
    mailgate: Mailgate, initialised: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    mailgate("region", "add", "BJ", "--name", "北京", "--org", "acme")
    mailgate("region", "add", "SH", "--name", "上海", "--org", "acme")
    roster = tmp_path / "roster.csv"
    roster.write_bytes(csv_bytes(*ROWS))
    mailgate("roster", "import", str(roster), "--org", "acme")
    mailgate(
        "policy", "add", "interns", "--org", "acme", "--position", "10",
        "--employment-type", "intern", "--set", "self_service=false",
    )  # fmt: skip

    made = mailgate(
        "--json", "entry", "add", "apply", "--org", "acme", "--kind", "portal",
        "--domain", "acme.test", "--landing", "zh_Hans=欢迎申请公司邮箱", "--landing",
        "en=Welcome", "--region", "BJ",
    ).json()  # fmt: skip
    assert made["landing"] == {"zh_Hans": "欢迎申请公司邮箱", "en": "Welcome"}
    assert made["region"] == "BJ" and made["domain"] == "acme.test"
    mailgate(
        "entry", "add", "partners", "--org", "acme", "--kind", "partner", "--domain",
        "acme.test", "--network", "10.0.0.0/8", "--network", "192.168.0.0/16",
        "--reach-hint", "en=Use the [bold]VPN[/x]",
    )  # fmt: skip
    bad = mailgate(
        "entry", "add", "x", "--org", "acme", "--kind", "kiosk", "--domain", "acme.test", ok=False
    )
    assert "unknown entry kind 'kiosk'" in bad.err
    bad = mailgate(
        "entry", "add", "y", "--org", "acme", "--kind", "portal", "--domain", "acme.test",
        "--network", "10.0.0.300/8", ok=False,
    )  # fmt: skip
    assert "not a network" in bad.err
    bad = mailgate(
        "entry", "add", "z", "--org", "acme", "--kind", "portal", "--domain", "beta.test", ok=False
    )
    assert "no domain beta.test" in bad.err
    bad = mailgate("entry", "update", "apply", "--landing", "nothing", ok=False)
    assert "LANGUAGE=TEXT" in bad.err

    listed = mailgate("--json", "entry", "list", "--org", "acme").json()["items"]
    assert [(e["slug"], e["kind"], e["networks"]) for e in listed] == [
        ("apply", "portal", []),
        ("partners", "partner", ["10.0.0.0/8", "192.168.0.0/16"]),
    ]
    table = mailgate("entry", "list", "--org", "acme").out
    assert "partners" in table and "10.0.0.0/8" in table
    updated = mailgate(
        "--json", "entry", "update", "partners", "--any-network", "--no-region",
        "--trusted-devices-only", "--landing", "zh_Hant=歡迎",
    ).json()  # fmt: skip
    assert updated["networks"] == [] and updated["trusted_devices_only"] is True
    assert updated["landing"] == {"zh_Hant": "歡迎"}
    assert (
        mailgate("--json", "entry", "update", "partners", "--disabled").json()["enabled"] is False
    )
    shown = mailgate("entry", "update", "partners", "--enabled").out
    assert "Use the [bold]VPN[/x]" in shown  # shown as typed, not read as markup

    # An application and a ticket, filed as the portal would.
    wang = ApplicationForm(
        employee_id="E002", name="王芳", department="市场部", purpose="项目邮件",
        contact_email="wang@example.org", supervisor_employee_id="E001",
    )  # fmt: skip
    filed = _file(cli_env, "apply", wang, "10.1.1.1")
    assert filed.application is not None
    intern = ApplicationForm(employee_id="E004", name="[/x]欧阳子涵", mobile="13800138004")
    ticket = _file(cli_env, "apply", intern, "10.1.1.1").ticket
    assert ticket is not None

    apps = mailgate("--json", "application", "list", "--org", "acme").json()
    assert apps["total"] == 1
    (row,) = apps["items"]
    assert row["employee_id"] == "E002" and row["roster_checks"] == ["unit_mismatch"]
    assert (
        mailgate("--json", "application", "list", "--org", "acme", "--state", "approved").json()[
            "total"
        ]
        == 0
    )
    bad = mailgate("application", "list", "--org", "acme", "--state", "lost", ok=False)
    assert "unknown application state 'lost'" in bad.err
    detail = mailgate("--json", "application", "show", str(row["id"])).json()
    assert detail["roster_unit"] == "研发中心/平台部"
    assert detail["documents"][0].endswith("id.png (image/png, 40 bytes)")
    assert "submit applicant:E002" in detail["timeline"][0]
    text = mailgate("application", "show", str(row["id"])).out
    assert "timeline:" in text and "unit_mismatch" in text
    assert "E002" in mailgate("application", "list", "--org", "acme").out
    mailgate("application", "show", "999", ok=False)

    tickets = mailgate("--json", "ticket", "list", "--org", "acme", "--state", "open").json()
    assert tickets["total"] == 1 and tickets["items"][0]["employee_id"] == "E004"
    assert "interns" in tickets["items"][0]["reason"]
    assert "[/x]欧阳子涵" in mailgate("ticket", "list", "--org", "acme").out
    exported = mailgate("ticket", "list", "--org", "acme", "--csv").out
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["employee_id"] for r in rows] == ["E004"]
    bad = mailgate("ticket", "close", str(ticket.id), "--note", " ", ok=False)
    assert "note" in bad.err
    closed = mailgate(
        "--json", "ticket", "close", str(ticket.id), "--note", "created by hand"
    ).json()
    assert closed["state"] == "closed" and closed["note"] == "created by hand"
    again = mailgate("ticket", "close", str(ticket.id), "--note", "again", ok=False)
    assert "closed already" in again.err

    # Scope: a helpdesk account of acme sees tickets, not applications; beta's admin neither.
    for address, role, org in (
        ("desk@acme.test", "helpdesk", "acme"),
        ("b@beta.test", "org_admin", "beta"),
    ):
        mailgate("account", "create", address, "--password-stdin", "--skip-first-login",
                 stdin="a-long-enough-password\n")  # fmt: skip
        mailgate("account", "grant", address, role, "--org", org)
    assert (
        mailgate("--as", "desk@acme.test", "--json", "ticket", "list", "--org", "acme").json()[
            "total"
        ]
        == 1
    )
    denied = mailgate("--as", "desk@acme.test", "application", "list", "--org", "acme", ok=False)
    assert "may not application review" in denied.err
    hidden = mailgate("--as", "b@beta.test", "ticket", "list", "--org", "acme", ok=False)
    assert "no organisation 'acme'" in hidden.err
    hidden = mailgate("--as", "b@beta.test", "entry", "update", "apply", "--disabled", ok=False)
    assert "no entry 'apply'" in hidden.err
