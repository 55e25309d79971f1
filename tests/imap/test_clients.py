"""Debian's mail clients against the IMAP server in this process (loopback, ephemeral ports,
bounded time): mbsync and offlineimap sync both ways, fetchmail downloads over implicit TLS
and STARTTLS, getmail6 over IMAPS.  TLS is verified against the test CA wherever the client
takes a CA file.  The server's side is checked with imaplib, an independent client."""

from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme
from tests.imap.server_support import PW, USER, Imap, make_settings
from tests.imap.server_support import seed as seed_accounts

from mailgate.domain.access import Actor
from mailgate.protocols.imap.server import start_imap
from mailgate.services.container import Services

TIMEOUT = 90
PATH = os.environ.get("PATH", "/usr/bin:/bin")

EIGHT_BIT = (
    "From: =?UTF-8?B?546L5Lyf?= <wang.wei@acme.test>\r\nTo: li.na@acme.test\r\n"
    "Subject: =?UTF-8?B?5Lit5paH?=\r\nMessage-ID: <c1@acme.test>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    "\r\n你好，世界。\r\nÄÖÜ and a long enough line to look like a real message.\r\n"
).encode()
SEEDED = {
    "INBOX": [
        EIGHT_BIT,
        b"From: a@example.org\r\nSubject: second\r\nMessage-ID: <c2@acme.test>\r\n\r\nTwo.\r\n",
        b"From: b@example.org\r\nSubject: third\r\nMessage-ID: <c3@acme.test>\r\n\r\nThree.\r\n",
    ],
    "Projects": [
        b"From: c@example.org\r\nSubject: plan\r\nMessage-ID: <c4@acme.test>\r\n\r\nPlan.\r\n",
    ],
}
LOCAL_NEW = (
    b"From: li.na@acme.test\r\nTo: wang.wei@acme.test\r\nSubject: written offline\r\n"
    b"Message-ID: <offline@acme.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n\r\n"
    b"Composed while offline.\r\n"
)
_FETCHED = re.compile(rb"FLAGS \(([^)]*)\)")
# mbsync adds this header to every message it copies, in both directions (to find it again)
_TUID = re.compile(rb"^X-TUID: \S+\r?\n", re.M)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
async def imap(services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[Imap]:
    """As in server_support, with a certificate that also has a common name: offlineimap
    and getmail check the name against the CN."""
    ids = await seed_accounts(services, root)
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert = ca.issue_cert("127.0.0.1", "localhost", common_name="localhost")
    cert.configure_cert(server_ctx)
    listeners = await start_imap(services, make_settings(tmp_path / "imap"), server_ctx)
    yield Imap(services, listeners, ids, ca)
    await listeners.close()


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str]:
    """Run a client while this loop serves it; its output for the assertion message."""
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


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def without_tuid(data: bytes) -> bytes:
    return _TUID.sub(b"", data, count=1)


def _imaplib(imap: Imap) -> imaplib.IMAP4:
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", imap.tls_port, ssl_context=imap.client_tls(), timeout=20
    )
    client.login(USER, PW)
    return client


def _seed(imap: Imap) -> None:
    client = _imaplib(imap)
    try:
        client.create("Projects")
        for folder, messages in SEEDED.items():
            for n, data in enumerate(messages):
                flags = "(\\Seen)" if n == 1 else None
                typ, _ = client.append(folder, flags, None, data)
                assert typ == "OK"
    finally:
        client.logout()


def _server_view(imap: Imap, folder: str) -> dict[bytes, set[str]]:
    """The messages of a folder as {bytes: flags}, read with imaplib."""
    client = _imaplib(imap)
    try:
        typ, data = client.select(folder, readonly=True)
        assert typ == "OK", data
        if int(data[0] or 0) == 0:
            return {}
        typ, data = client.fetch("1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        view: dict[bytes, set[str]] = {}
        for item in data:
            if isinstance(item, tuple) and not is_notice(item[1]):
                m = _FETCHED.search(item[0])
                assert m is not None, item[0]
                view[without_tuid(item[1])] = set(m.group(1).decode().split())
        return view
    finally:
        client.logout()


async def seed(imap: Imap) -> None:
    await asyncio.to_thread(_seed, imap)


async def server_view(imap: Imap, folder: str) -> dict[bytes, set[str]]:
    return await asyncio.to_thread(_server_view, imap, folder)


async def store(imap: Imap, folder: str, subject: bytes, flags: str) -> None:
    """`STORE +FLAGS` on the message with this subject, from another session."""

    def go() -> None:
        client = _imaplib(imap)
        try:
            client.select(folder)
            typ, found = client.search(None, "SUBJECT", f'"{subject.decode()}"')
            assert typ == "OK" and len(found[0].split()) == 1, found
            typ, _ = client.store(found[0].decode(), "+FLAGS", flags)
            assert typ == "OK"
        finally:
            client.logout()

    await asyncio.to_thread(go)


def maildir_messages(folder: Path) -> dict[bytes, str]:
    """{bytes with LF: Maildir flag letters} of a Maildir folder (new/ and cur/)."""
    found: dict[bytes, str] = {}
    for sub in ("new", "cur"):
        for path in (folder / sub).iterdir():
            _, _, info = path.name.partition(":2,")
            data = path.read_bytes()
            if not is_notice(data):
                found[without_tuid(lf(data))] = info
    return found


def is_notice(data: bytes) -> bool:
    """Mailgate's own security notices (e.g. "new sign-in" when a second client program logs
    in) are not part of what the clients synchronise in these tests."""
    return b"\nAuto-Submitted: auto-generated" in lf(data)


def find_local(folder: Path, subject: bytes) -> Path:
    paths = [
        p
        for sub in ("new", "cur")
        for p in (folder / sub).iterdir()
        if b"\nSubject: " + subject + b"\n" in lf(p.read_bytes())
    ]
    assert len(paths) == 1, paths
    return paths[0]


def set_maildir_flags(path: Path, letters: str) -> None:
    base = path.name.partition(":2,")[0]
    path.rename(path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(letters))}")


def add_local(folder: Path, data: bytes) -> None:
    name = f"{secrets.token_hex(8)}.mailgate-test"
    (folder / "tmp" / name).write_bytes(data)
    (folder / "tmp" / name).rename(folder / "new" / name)


def ca_file(imap: Imap, directory: Path) -> Path:
    path = directory / "ca.pem"
    imap.ca.cert_pem.write_to_path(str(path))
    return path


def client_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": PATH, "LC_ALL": "C.UTF-8"}


def require(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.fail(f"{binary} is not installed (scripts/test.sh installs {package})")
    return found


def assert_local_mirrors_seed(folder_paths: dict[str, Path]) -> None:
    """Every seeded message arrived whole, the one seeded as \\Seen with the S flag."""
    for folder, messages in SEEDED.items():
        expected = {lf(m): "S" if n == 1 else "" for n, m in enumerate(messages)}
        assert maildir_messages(folder_paths[folder]) == expected, folder


# --------------------------------------------------------------------------- mbsync

MBSYNCRC = """\
IMAPAccount mailgate
Host localhost
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {ca}
Timeout 30

IMAPStore remote
Account mailgate

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel mailgate
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
"""


async def test_mbsync_full_sync_both_ways_and_flag_round_trip(imap: Imap, tmp_path: Path) -> None:
    mbsync = require("mbsync", "isync")
    await seed(imap)
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        MBSYNCRC.format(
            port=imap.tls_port, user=USER, password=PW, ca=ca_file(imap, tmp_path), maildir=maildir
        )
    )
    env = client_env(tmp_path)

    async def sync() -> None:
        code, output = await run(mbsync, "-c", str(rc), "-V", "-a", env=env)
        assert code == 0, output

    # server -> an empty local Maildir
    await sync()
    folders = {"INBOX": maildir / "INBOX", "Projects": maildir / "Projects"}
    assert_local_mirrors_seed(folders)

    # local changes -> server: a new message, a flag, a deletion
    add_local(folders["INBOX"], LOCAL_NEW)
    set_maildir_flags(find_local(folders["INBOX"], b"third"), "FS")
    find_local(folders["INBOX"], b"second").unlink()
    await sync()
    inbox = await server_view(imap, "INBOX")
    assert set(inbox) == {EIGHT_BIT, SEEDED["INBOX"][2], LOCAL_NEW}  # byte-identical, CRLF
    assert inbox[SEEDED["INBOX"][2]] == {"\\Flagged", "\\Seen"}
    assert inbox[LOCAL_NEW] == set()

    # flags changed on the server come back, and a second sync changes nothing
    await store(imap, "INBOX", b"written offline", "(\\Answered \\Seen)")
    await store(imap, "INBOX", b"third", "(\\Deleted)")  # not expunged: mbsync expunges it
    await sync()
    local = maildir_messages(folders["INBOX"])
    assert local == {lf(EIGHT_BIT): "", lf(LOCAL_NEW): "RS"}
    await sync()
    assert maildir_messages(folders["INBOX"]) == local
    assert set(await server_view(imap, "INBOX")) == {EIGHT_BIT, LOCAL_NEW}
    assert set(await server_view(imap, "Projects")) == set(SEEDED["Projects"])


# --------------------------------------------------------------------------- offlineimap

OFFLINEIMAPRC = """\
[general]
accounts = mailgate
metadata = {home}/metadata
ui = basic
socktimeout = 30

[Account mailgate]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}
sep = /

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = yes
sslcacertfile = {ca}
"""


async def test_offlineimap_full_sync_both_ways(imap: Imap, tmp_path: Path) -> None:
    offlineimap = require("offlineimap", "offlineimap3")
    await seed(imap)
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    rc = tmp_path / "offlineimaprc"
    rc.write_text(
        OFFLINEIMAPRC.format(
            home=tmp_path,
            port=imap.tls_port,
            user=USER,
            password=PW,
            ca=ca_file(imap, tmp_path),
            maildir=maildir,
        )
    )
    env = client_env(tmp_path)

    async def sync() -> None:
        code, output = await run(offlineimap, "-c", str(rc), "-o", "-u", "basic", env=env)
        assert code == 0 and "ERROR" not in output, output

    await sync()
    folders = {"INBOX": maildir / "INBOX", "Projects": maildir / "Projects"}
    assert_local_mirrors_seed(folders)

    add_local(folders["INBOX"], LOCAL_NEW)
    set_maildir_flags(find_local(folders["INBOX"], b"third"), "FS")
    find_local(folders["INBOX"], b"second").unlink()
    await sync()
    inbox = await server_view(imap, "INBOX")
    assert set(inbox) == {EIGHT_BIT, SEEDED["INBOX"][2], LOCAL_NEW}
    assert inbox[SEEDED["INBOX"][2]] == {"\\Flagged", "\\Seen"}

    await store(imap, "INBOX", b"written offline", "(\\Answered \\Seen)")
    await sync()
    local = maildir_messages(folders["INBOX"])
    assert local[lf(LOCAL_NEW)] == "RS"
    assert local[lf(SEEDED["INBOX"][2])] == "FS"
    assert set(await server_view(imap, "Projects")) == set(SEEDED["Projects"])


# --------------------------------------------------------------------------- fetchmail


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
async def test_fetchmail_downloads_over_tls_and_deletes(
    imap: Imap, tmp_path: Path, mode: str
) -> None:
    require("fetchmail", "fetchmail")
    await seed(imap)
    out_dir = tmp_path / "fetched"
    out_dir.mkdir()
    port = imap.tls_port if mode == "implicit" else imap.port
    tls = "ssl" if mode == "implicit" else "sslproto 'TLS1.2+'"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"set no syslog\n"
        f"poll 127.0.0.1 service {port} protocol imap timeout 30:\n"
        f'  user "{USER}" there with password "{PW}" is "nobody" here\n'
        f"  folder INBOX\n"
        f"  {tls} sslcertck sslcertfile '{ca_file(imap, tmp_path)}' sslcommonname localhost\n"
        f"  mda \"/bin/sh -c 'cat > {out_dir}/msg.$$'\"\n"
        f"  no keep no rewrite fetchall\n"
    )
    rc.chmod(0o600)
    code, output = await run(
        "fetchmail", "-f", str(rc), "--pidfile", str(tmp_path / "pid"), "--nodetach", "-v",
        env=client_env(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    if mode == "starttls":
        assert re.search(r"IMAP> \S+ STARTTLS", output), output
    found = [lf(p.read_bytes()) for p in out_dir.iterdir()]
    assert len(found) == len(SEEDED["INBOX"])
    for original in SEEDED["INBOX"]:  # whole, under the trace fields fetchmail adds
        assert sum(f.endswith(lf(original)) for f in found) == 1, original[:60]
    assert await server_view(imap, "INBOX") == {}  # fetched, flagged \Deleted, expunged


# --------------------------------------------------------------------------- getmail6


@pytest.fixture
def throwaway_user() -> Iterator[str | None]:
    """getmail refuses to run as root: a system user that exists for this test only."""
    if os.geteuid() != 0:
        yield None
        return
    name = f"mgimap{secrets.token_hex(3)}"
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


async def test_getmail6_downloads_over_imaps_and_deletes(
    imap: Imap, throwaway_user: str | None
) -> None:
    getmail = require("getmail", "getmail6")
    await seed(imap)
    base = Path(tempfile.mkdtemp(prefix="mailgate-getmail-imap-"))  # reachable by the user
    try:
        maildir = base / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        ca = ca_file(imap, base)
        (base / "getmailrc").write_text(
            "[retriever]\n"
            "type = SimpleIMAPSSLRetriever\n"
            f"server = localhost\nport = {imap.tls_port}\n"
            f"username = {USER}\npassword = {PW}\n"
            "mailboxes = ('INBOX', 'Projects')\n"
            f"ca_certs = {ca}\n"
            "timeout = 30\nrecord_mailbox = false\n"
            "[destination]\ntype = Maildir\n"
            f"path = {maildir}/\n"
            "[options]\nread_all = true\ndelete = true\n"
            "delivered_to = false\nreceived = false\nverbose = 2\n"
        )
        argv = [getmail, "--getmaildir", str(base), "--rcfile", "getmailrc"]
        if throwaway_user is not None:
            user = pwd.getpwnam(throwaway_user)
            for path in [base, *await asyncio.to_thread(lambda: list(base.rglob("*")))]:
                os.chown(path, user.pw_uid, user.pw_gid)
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            argv = [runuser, "-u", throwaway_user, "--", *argv]
        code, output = await run(*argv, env=client_env(base))
        assert code == 0, output
        found = [lf(p.read_bytes()) for p in (maildir / "new").iterdir()]
        expected = [lf(m) for messages in SEEDED.values() for m in messages]
        assert len(found) == len(expected), output
        for original in expected:
            assert sum(f.endswith(original) for f in found) == 1, original[:60]
        assert await server_view(imap, "INBOX") == {}
        assert await server_view(imap, "Projects") == {}
    finally:
        shutil.rmtree(base, ignore_errors=True)
