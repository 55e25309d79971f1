"""org, domain, account, alias, group, roster and audit commands, with the bad inputs of
issue #2: each gets a clear error and writes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.conftest import Mailgate

ROSTER = (
    "\ufeffemployee_id,name_zh,name_latin,org_unit,employment_type,position,supervisor_id,"
    "start_date\n"
    "A001,张伟,Zhang Wei,研发中心/平台部,full_time,工程师,,2020-01-01\n"
    "A002,李娜,Li Na,研发中心/平台部,full_time,工程师,A001,2021-03-01\n"
    "A003,,,研发中心,full_time,,,\n"  # no name
    "A004,王芳,Wang Fang,市场部,permanent,,,\n"  # bad employment type
    "A005,刘洋,Liu Yang,市场部,intern,,,2024-02-30\n"  # impossible date
    "A006,陈静,Chen Jing,人力资源部,part_time,HR 专员,A001,2022-07-01\n"
)


def _audit_count(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "mailgate.db") as db:
        return int(db.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def test_roster_import_reports_bad_rows_and_is_idempotent(
    mailgate: Mailgate, initialised: str, tmp_path: Path, data_dir: Path
) -> None:
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(ROSTER, encoding="utf-8")
    first = mailgate("--json", "roster", "import", str(csv_file), "--org", "acme", ok=None)
    assert first.code == 3
    report = first.json()
    assert (report["created"], report["updated"], report["rejected"]) == (3, 0, 3)
    assert [r["line"] for r in report["items"]] == [4, 5, 6]
    assert "name" in report["items"][0]["reason"]
    assert "employment_type" in report["items"][1]["reason"]
    assert "start_date" in report["items"][2]["reason"]
    events = _audit_count(data_dir)
    again = mailgate("--json", "roster", "import", str(csv_file), "--org", "acme", ok=None).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert _audit_count(data_dir) == events
    listed = mailgate("--json", "roster", "list", "--org", "acme", "--search", "张").json()
    assert [e["name_zh"] for e in listed["items"]] == ["张伟"]
    units = mailgate("--json", "orgunit", "list", "--org", "acme").json()["items"]
    assert {"研发中心", "研发中心/平台部", "人力资源部"} <= {u["path"] for u in units}


def test_roster_in_gbk_and_without_a_required_column_is_refused(
    mailgate: Mailgate, initialised: str, tmp_path: Path, data_dir: Path
) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(ROSTER.replace("\ufeff", "").encode("gbk"))
    res = mailgate("roster", "import", str(gbk), "--org", "acme", ok=False)
    assert "GBK" in res.err and "--encoding gb18030" in res.err
    ok = mailgate(
        "--json", "roster", "import", str(gbk), "--org", "acme", "--encoding", "gb18030", ok=None
    ).json()
    assert ok["created"] == 3
    missing = tmp_path / "missing.csv"
    missing.write_text("employee_id,name_zh\nB1,张三\n", encoding="utf-8")
    res = mailgate("roster", "import", str(missing), "--org", "acme", ok=False)
    assert "org_unit" in res.err and "employment_type" in res.err


def test_account_rules(mailgate: Mailgate, initialised: str, data_dir: Path) -> None:
    mailgate("org", "update", "acme", "--pool", "3")
    mailgate(
        "account",
        "create",
        "Zhang.Wei@acme.test",
        "--password-stdin",
        "--skip-first-login",
        "--quota",
        "1GiB",
        "--expires",
        "2099-12-31",
        stdin="a-long-enough-password\n",
    )
    before = _audit_count(data_dir)
    dup = mailgate("account", "create", "zhang.wei@ACME.test", ok=False)
    assert "already used" in dup.err
    other = mailgate("account", "create", "x@unknown.test", ok=False)
    assert "not a domain of this Mailgate" in other.err
    bad_idn = mailgate("account", "create", "x@pаypal.test", ok=False)
    assert "mixes scripts" in bad_idn.err
    assert _audit_count(data_dir) == before
    mailgate("account", "create", "b@acme.test")
    mailgate("account", "create", "c@acme.test")
    full = mailgate("account", "create", "d@acme.test", ok=False)
    assert "account pool is exhausted" in full.err
    assert _audit_count(data_dir) == before + 2
    shown = mailgate("--json", "account", "show", "zhang.wei@acme.test").json()
    assert shown["quota"] == "1 GiB" and shown["expires_on"] == "2099-12-31"
    pending = mailgate("--json", "account", "show", "b@acme.test").json()
    assert pending["state"] == "pending_activation"
    assert pending["first_login_pending"]
    mailgate("account", "expire", "zhang.wei@acme.test")
    refused = mailgate("account", "unlock", "zhang.wei@acme.test", ok=False)
    assert "cannot unlock" in refused.err and "reactivate" in refused.err
    mailgate("account", "reactivate", "zhang.wei@acme.test", "--expires", "2099-01-01")
    mailgate("account", "disable", "c@acme.test")
    mailgate("account", "create", "d@acme.test")  # a disabled account frees its pool place


def test_alias_and_group(mailgate: Mailgate, initialised: str) -> None:
    mailgate("account", "create", "a@acme.test")
    mailgate("account", "create", "b@acme.test")
    mailgate("alias", "add", "team@acme.test", "a@acme.test", "b@acme.test")
    assert "already used" in mailgate("alias", "add", "A@acme.test", "b@acme.test", ok=False).err
    missing = mailgate("alias", "add", "x@acme.test", "nobody@acme.test", ok=False)
    assert "no account, alias or group" in missing.err
    mailgate("group", "create", "all@acme.test", "--name", "全体员工", "--send-policy", "members")
    mailgate("group", "add-member", "all@acme.test", "a@acme.test")
    mailgate("group", "add-member", "all@acme.test", "team@acme.test")
    groups = mailgate("--json", "group", "list").json()["items"]
    assert groups[0]["members"] == "a@acme.test, team@acme.test"
    mailgate("alias", "remove", "team@acme.test")
    assert mailgate("--json", "alias", "list").json()["items"] == []


def test_audit_verify_names_an_edited_row(
    mailgate: Mailgate, initialised: str, data_dir: Path
) -> None:
    assert "intact" in mailgate("audit", "verify").out
    with sqlite3.connect(data_dir / "mailgate.db") as db:
        db.execute("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3")
    res = mailgate("--json", "audit", "verify", ok=False)
    report = res.json()
    assert report["ok"] is False
    assert [(p["seq"], p["problem"]) for p in report["items"]] == [
        (3, "content does not match its hash (edited)")
    ]
