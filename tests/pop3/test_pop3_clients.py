"""Debian's fetchmail and getmail6 download over TLS from a server in this process (loopback,
ephemeral ports, bounded time) and delete what they fetched at UPDATE."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pop3.conftest import MESSAGES, PW, USER, Pop3

TIMEOUT = 60


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a client while this loop serves it; output for the assertion message."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


def unix(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def delivered(folder: Path) -> list[bytes]:
    return sorted(unix(p.read_bytes()) for p in folder.iterdir() if p.is_file())


def assert_all_delivered(found: list[bytes]) -> None:
    """Each message arrived whole (clients may add trace fields on top and use LF)."""
    assert len(found) == len(MESSAGES)
    for original in MESSAGES:
        assert sum(f.endswith(unix(original)) for f in found) == 1, original[:60]


@pytest.mark.parametrize("mode", ["implicit", "stls"])
async def test_fetchmail_downloads_and_deletes(
    pop3: Pop3, ca_file: Path, tmp_path: Path, mode: str
) -> None:
    if shutil.which("fetchmail") is None:
        pytest.fail("fetchmail is not installed (scripts/test.sh installs it)")
    out_dir = tmp_path / "fetched"
    out_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    port = pop3.tls_port if mode == "implicit" else pop3.port
    tls = "ssl" if mode == "implicit" else "sslproto 'TLS1.2+'"
    rc = home / "fetchmailrc"
    rc.write_text(
        f"set no syslog\n"
        f"poll 127.0.0.1 service {port} protocol pop3 timeout 30:\n"
        f'  user "{USER}" there with password "{PW}" is "nobody" here\n'
        f"  {tls} sslcertck sslcertfile '{ca_file}' sslcommonname localhost\n"
        f"  mda \"/bin/sh -c 'cat > {out_dir}/msg.$$'\"\n"
        f"  no keep no rewrite\n"
    )
    rc.chmod(0o600)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    code, output = await run(
        "fetchmail", "-f", str(rc), "-i", str(home / "ids"), "--pidfile", str(home / "pid"),
        "--nodetach", "-v", env=env,
    )  # fmt: skip
    assert code == 0, output
    assert_all_delivered(delivered(out_dir))
    assert await pop3.uids() == []  # fetched, then deleted at QUIT


@pytest.fixture
def throwaway_user() -> Iterator[str | None]:
    """getmail refuses to run as root: a system user that exists for this test only."""
    if os.geteuid() != 0:
        yield None
        return
    name = f"mgpop{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)


async def test_getmail6_downloads_over_implicit_tls_and_deletes(
    pop3: Pop3, ca_file: Path, throwaway_user: str | None
) -> None:
    if shutil.which("getmail") is None:
        pytest.fail("getmail6 is not installed (scripts/test.sh installs it)")
    base = Path(tempfile.mkdtemp(prefix="mailgate-getmail-"))  # reachable by the user
    try:
        maildir = base / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        shutil.copy(ca_file, base / "ca.pem")
        (base / "getmailrc").write_text(
            "[retriever]\n"
            "type = SimplePOP3SSLRetriever\n"
            f"server = 127.0.0.1\nport = {pop3.tls_port}\n"
            f"username = {USER}\npassword = {PW}\n"
            f"ca_certs = {base / 'ca.pem'}\n"
            "timeout = 30\n"
            "[destination]\ntype = Maildir\n"
            f"path = {maildir}/\n"
            "[options]\nread_all = true\ndelete = true\n"
            "delivered_to = false\nreceived = false\nverbose = 2\n"
        )
        argv = ["getmail", "--getmaildir", str(base), "--rcfile", "getmailrc"]
        env = {"HOME": str(base), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
        if throwaway_user is not None:
            user = pwd.getpwnam(throwaway_user)
            for path in [base, *await asyncio.to_thread(lambda: list(base.rglob("*")))]:
                os.chown(path, user.pw_uid, user.pw_gid)
            argv = [
                shutil.which("runuser") or "/usr/sbin/runuser",
                "-u",
                throwaway_user,
                "--",
                *argv,
            ]
        code, output = await run(*argv, env=env)
        assert code == 0, output
        assert_all_delivered(delivered(maildir / "new"))
        assert await pop3.uids() == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
