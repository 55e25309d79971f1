"""Run the real `mailgate` command (python -m mailgate) in a subprocess on a fresh data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailgate.bootstrap import Runtime
from mailgate.cli.main import build_cli


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Mailgate = Callable[..., Result]


def _check(result: Result, args: tuple[str, ...], ok: bool | None) -> Result:
    if ok is True:
        assert result.code == 0, f"mailgate {' '.join(args)} failed: {result}"
    elif ok is False:
        assert result.code != 0, f"mailgate {' '.join(args)} should fail: {result}"
    return result


@pytest.fixture
def mailgate_process(cli_env: dict[str, str]) -> Mailgate:
    """The installed command in a child process: what an operator runs."""

    def call(*args: str, stdin: str | None = None, ok: bool | None = True) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "mailgate", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=120,
            check=False,
        )
        return _check(Result(proc.returncode, proc.stdout, proc.stderr), args, ok)

    return call


@pytest.fixture
def mailgate(cli_env: dict[str, str]) -> Mailgate:
    """The same command line, in this process (the interpreter start costs a second a call)."""
    app = build_cli(Runtime)
    runner = CliRunner()

    def call(*args: str, stdin: str | None = None, ok: bool | None = True) -> Result:
        res = runner.invoke(app, list(args), input=stdin, env=cli_env, catch_exceptions=False)
        return _check(Result(res.exit_code, res.stdout, res.stderr), args, ok)

    return call


@pytest.fixture
def data_dir(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["MAILGATE_DATA_DIR"])


@pytest.fixture
def initialised(mailgate: Mailgate) -> str:
    """An initialised data dir with org `acme` (domain acme.test, pool 3); returns the admin
    password."""
    res = mailgate(
        "init", "--admin", "root@ops.test", "--password-stdin", stdin="root-password-123\n"
    )
    assert "root@ops.test" in res.out
    mailgate("org", "create", "acme", "--name", "Acme 公司", "--pool", "10")
    mailgate("domain", "add", "acme.test", "--org", "acme")
    mailgate("org", "create", "beta", "--name", "Beta Ltd")
    mailgate("domain", "add", "beta.test", "--org", "beta")
    return "root-password-123"
