"""init, db upgrade, exit codes, configuration sources."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.conftest import Mailgate


def test_init_creates_everything_and_prints_a_generated_password_once(
    mailgate_process: Mailgate, data_dir: Path
) -> None:
    first = mailgate_process("init", "--admin", "admin@corp.test")
    assert "password (shown once" in first.out
    password = first.out.split("write it down): ")[1].split()[0]
    assert len(password) >= 20
    assert (data_dir / "mailgate.db").is_file()
    assert (data_dir / "tls" / "cert.pem").is_file()
    assert (data_dir / "tls" / "key.pem").stat().st_mode & 0o077 == 0
    db = sqlite3.connect(data_dir / "mailgate.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = db.execute("SELECT password_hash FROM accounts").fetchone()[0]
    assert stored.startswith("$argon2id$") and password not in stored
    second = mailgate_process("init", "--admin", "admin@corp.test")
    assert "already initialised" in second.out
    assert "password" not in second.out
    shown = mailgate_process("--json", "account", "show", "admin@corp.test").json()
    assert shown["state"] == "active" and shown["skipped_first_login"] is True


def test_db_upgrade_is_idempotent_and_commands_refuse_an_unmigrated_database(
    mailgate_process: Mailgate,
) -> None:
    refused = mailgate_process("org", "list", ok=False)
    assert "mailgate db upgrade" in refused.out + refused.err
    assert "Traceback" not in refused.err
    assert "revision" in mailgate_process("db", "upgrade").out
    assert "revision" in mailgate_process("db", "upgrade").out
    assert mailgate_process("--json", "org", "list").json() == {"items": []}


def test_usage_errors_exit_non_zero_with_a_message(
    mailgate_process: Mailgate, tmp_path: Path
) -> None:
    assert mailgate_process("no-such-command", ok=False).code == 2
    missing = mailgate_process("--config", str(tmp_path / "nope.toml"), "org", "list", ok=False)
    assert "does not exist" in missing.err


def test_settings_from_a_toml_file_and_environment(
    mailgate_process: Mailgate, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    other = tmp_path / "elsewhere"
    config = tmp_path / "mailgate.toml"
    config.write_text(f'data_dir = "{other}"\n[web]\nport = 9999\n', encoding="utf-8")
    del cli_env["MAILGATE_DATA_DIR"]
    mailgate_process(
        "--config",
        str(config),
        "init",
        "--admin",
        "a@b.test",
        "--password-stdin",
        stdin="password-password\n",
    )
    assert (other / "mailgate.db").is_file()
    bad = tmp_path / "bad.toml"
    bad.write_text("[web]\nport = 'eighty'\n", encoding="utf-8")
    res = mailgate_process("--config", str(bad), "org", "list", ok=False)
    assert "invalid configuration" in res.err and "port" in res.err
