"""`mailgate factor ...`: list, TOTP enrolment acting as the user, and the admin reset."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyotp
from typer.testing import CliRunner

from mailgate.bootstrap import Runtime
from mailgate.cli.main import build_cli


def test_factor_commands(cli_env: dict[str, str]) -> None:
    app = build_cli(Runtime)
    runner = CliRunner()

    def mg(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        res = runner.invoke(app, list(args), input=stdin, env=cli_env, catch_exceptions=False)
        assert (res.exit_code == 0) == ok, f"mailgate {' '.join(args)}: {res.stdout} {res.stderr}"
        return res.stdout if ok else res.stderr

    mg("init", "--admin", "root@ops.test", "--password-stdin", stdin="root-password-123\n")
    for slug in ("acme", "beta"):
        mg("org", "create", slug, "--name", f"{slug.title()} 公司")
        mg("domain", "add", f"{slug}.test", "--org", slug)
    for address in ("user@acme.test", "boss@beta.test"):
        mg(
            "account",
            "create",
            address,
            "--password-stdin",
            "--skip-first-login",
            stdin="a-long-enough-password\n",
        )
    mg("account", "grant", "boss@beta.test", "org_admin", "--org", "beta")

    # Enrolment is personal: the operator must act as the user.
    assert "only the account itself" in mg("factor", "totp-enrol", "user@acme.test", ok=False)
    shown = mg("--as", "user@acme.test", "factor", "totp-enrol", "user@acme.test")
    assert "otpauth://totp/" in shown and "█" in shown  # the QR code, drawn in the terminal
    enrolment = json.loads(
        mg("--json", "--as", "user@acme.test", "factor", "totp-enrol", "user@acme.test")
    )
    now_code = pyotp.TOTP(enrolment["secret"]).at(datetime.now(UTC))
    mg(
        "--as",
        "user@acme.test",
        "factor",
        "totp-confirm",
        "user@acme.test",
        str(enrolment["factor_id"]),
        now_code,
    )
    listed = json.loads(mg("--json", "factor", "list", "user@acme.test"))
    assert [f["kind"] for f in listed["items"]] == ["totp"]

    # Another organisation's admin sees nothing and cannot reset.
    assert "no account" in mg(
        "--as", "boss@beta.test", "factor", "list", "user@acme.test", ok=False
    )
    mg(
        "--as",
        "boss@beta.test",
        "factor",
        "reset",
        "user@acme.test",
        "--verified-by",
        "x",
        "--method",
        "y",
        ok=False,
    )
    reset = json.loads(
        mg(
            "--json",
            "factor",
            "reset",
            "user@acme.test",
            "--verified-by",
            "Helpdesk Wang",
            "--method",
            "in person with ID card",
        )
    )
    assert reset["factors_removed"] == 1
    assert json.loads(mg("--json", "factor", "list", "user@acme.test"))["items"] == []
