"""`mailgate policy`: add, list, set, explain, remove from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Mailgate
from tests.test_services_roster import ROWS, csv_bytes


def test_policy_commands_and_explain(mailgate: Mailgate, initialised: str, tmp_path: Path) -> None:
    mailgate("region", "add", "BJ", "--name", "北京", "--org", "acme")
    mailgate("region", "add", "SH", "--name", "上海", "--org", "acme")
    roster = tmp_path / "roster.csv"
    roster.write_bytes(csv_bytes(*ROWS))
    mailgate("roster", "import", str(roster), "--org", "acme")

    mailgate(
        "policy", "add", "interns", "--org", "acme", "--position", "10",
        "--employment-type", "intern", "--set", "quota=1GiB", "--set", "self_service=false",
    )  # fmt: skip
    mailgate(
        "policy", "add", "platform", "--org", "acme", "--position", "20",
        "--unit", "研发中心/平台部", "--set", "second_factor_required=true",
        "--set", "approval_chain=supervisor,it,security",
    )  # fmt: skip
    bad = mailgate(
        "policy", "add", "x", "--org", "acme", "--position", "1", "--set", "colour=red", ok=False
    )
    assert "unknown policy setting 'colour'" in bad.err + bad.out
    listed = mailgate("--json", "policy", "list", "--org", "acme").json()["items"]
    assert [p["name"] for p in listed] == ["interns", "platform"]

    intern = mailgate("--json", "policy", "explain", "--org", "acme", "--employee-id", "E004")
    decided = {r["setting"]: (r["value"], r["decided_by"]) for r in intern.json()["items"]}
    assert decided["quota"] == (1024**3, "interns")
    assert decided["second_factor_required"] == (False, "default")
    assert intern.json()["eligible_for_self_service"] is False

    wang = mailgate("--json", "policy", "explain", "--org", "acme", "--employee-id", "E002")
    decided = {r["setting"]: (r["value"], r["decided_by"]) for r in wang.json()["items"]}
    assert decided["approval_chain"] == (["supervisor", "it", "security"], "platform")
    table = mailgate("policy", "explain", "--org", "acme", "--employee-id", "E002").out
    assert "platform" in table and "second_factor_required" in table

    mailgate("policy", "set", "platform", "--org", "acme", "--unset", "approval_chain")
    mailgate("policy", "remove", "interns", "--org", "acme")
    assert [
        p["name"] for p in mailgate("--json", "policy", "list", "--org", "acme").json()["items"]
    ] == ["platform"]
    missing = mailgate("policy", "explain", "--org", "acme", "--employee-id", "E999", ok=False)
    assert "E999" in missing.err + missing.out
