"""Benchmark: Mailgate's IMAP server against Debian's Dovecot, the same script, the same run.

Both run on this machine, on loopback, with durable storage and the same password-hash cost:
- Mailgate: `python -m mailgate serve` on a temporary data dir (SQLite WAL, synchronous=FULL,
  fsynced blobs, group commit), argon2id t=3 m=64 MiB p=4 (the production defaults).
- Dovecot: a private instance (`dovecot -F -c FILE`, its own base/state dirs, free ports,
  Maildir with `mail_fsync = always`), a passwd-file with an argon2id hash from
  `doveadm pw -s ARGON2ID` (libsodium: t=3 m=64 MiB p=1; libsodium has no lanes).
  Dovecot's master needs root (it switches to `nobody` for the mail); skipped otherwise.
- Both remember successful password checks for 5 minutes (Mailgate's `security.
  auth_cache_seconds`, Dovecot's `auth_cache_ttl`), as deployments serving phones do.

Phases, timed by one asyncio client per server (no TLS: loopback, plaintext LOGIN allowed):
APPEND N messages of 4 KB sequentially on one connection (LITERAL+), SELECT + FETCH 1:*
(FLAGS RFC822.SIZE), FETCH 1:* BODY.PEEK[] (median of a few runs), L sequential
connect/LOGIN/LOGOUT, mbsync pulling the whole INBOX into an empty Maildir; then, for
Mailgate, 1,000 connections in IDLE: extra RSS of the server and its CPU over 30 s, and how
long one new message takes to reach all of them.

    python bench/imap.py                      # 2,000 messages, 200 logins, 1,000 IDLE
    python bench/imap.py --messages 200 --logins 20 --idle 100 --idle-seconds 5
    python bench/imap.py --only mailgate --py-spy /tmp/prof   # py-spy raw stacks per phase
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

PW = "a-long-enough-password"
USER = "user@bench.test"
IDLE_USER = "idle@bench.test"  # a cheap hash: the IDLE phase measures idling, not logging in
_LITERAL = re.compile(rb"\{(\d+)\}$")
_WORDS = [
    "quarterly",
    "report",
    "meeting",
    "budget",
    "review",
    "project",
    "schedule",
    "customer",
    "invoice",
    "delivery",
    "support",
    "contract",
    "release",
    "planning",
    "feedback",
    "approval",
    "shipment",
    "warehouse",
    "forecast",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_message(n: int, size: int = 4096) -> bytes:
    rnd = random.Random(n)
    head = (
        f"From: Sender {n % 37} <sender{n % 37}@example.org>\r\nTo: {USER}\r\n"
        f"Subject: Benchmark message {n} {rnd.choice(_WORDS)}\r\n"
        f"Date: Mon, 2 Mar 2026 10:{n % 60:02d}:00 +0000\r\nMessage-ID: <bench.{n}@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    body = bytearray()
    while len(head) + len(body) < size:
        line = " ".join(rnd.choice(_WORDS) for _ in range(10)).encode() + b"\r\n"
        body += line
    data = head + bytes(body)
    return data[: size - 2] + b"\r\n"


# -- a small IMAP client -------------------------------------------------------------------


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        client = cls(reader, writer)
        greeting = await client.response()
        assert greeting.startswith(b"* OK"), greeting
        return client

    async def response(self) -> bytes:
        out = b""
        while True:
            line = await self.reader.readuntil(b"\r\n")
            out += line
            m = _LITERAL.search(line[:-2])
            if m is None:
                return out[:-2]
            out += await self.reader.readexactly(int(m.group(1)))

    async def command(self, text: str, literal: bytes | None = None) -> list[bytes]:
        """Send a command (with a LITERAL+ literal), return its responses, the tagged last."""
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            head = tag + b" " + text.encode() + b" {%d+}\r\n" % len(literal)
            self.writer.write(head + literal + b"\r\n")
        out: list[bytes] = []
        while True:
            line = await self.response()
            out.append(line)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text[:40]!r}: {line!r}")
                return out

    async def login(self, user: str = USER) -> None:
        await self.command(f'LOGIN "{user}" "{PW}"')

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


# -- the phases ----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def phase_append(port: int, messages: list[bytes]) -> float:
    c = await Client.connect(port)
    await c.login()

    async def go() -> None:
        for data in messages:
            await c.command("APPEND INBOX", data)

    seconds = await timed(go)
    await c.command("LOGOUT")
    await c.close()
    return seconds


async def phase_fetch(port: int, count: int, runs: int) -> tuple[float, float]:
    c = await Client.connect(port)
    await c.login()

    async def flags() -> None:
        out = await c.command("SELECT INBOX")
        assert any(line == b"* %d EXISTS" % count for line in out), out[:5]
        out = await c.command("FETCH 1:* (FLAGS RFC822.SIZE)")
        assert len(out) == count + 1, len(out)

    async def bodies() -> None:
        out = await c.command("FETCH 1:* BODY.PEEK[]")
        assert len(out) == count + 1, len(out)

    flag_times = [await timed(flags) for _ in range(runs)]
    body_times = [await timed(bodies) for _ in range(runs)]
    await c.command("LOGOUT")
    await c.close()
    return statistics.median(flag_times), statistics.median(body_times)


async def phase_logins(port: int, count: int) -> float:
    async def go() -> None:
        for _ in range(count):
            c = await Client.connect(port)
            await c.login()
            await c.command("LOGOUT")
            await c.close()

    return await timed(go)


MBSYNCRC = """\
IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN
Timeout 120

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""


def phase_mbsync(port: int, work: Path, count: int) -> float:
    maildir = work / "mbsync-maildir"
    shutil.rmtree(maildir, ignore_errors=True)
    maildir.mkdir(parents=True)
    rc = work / "mbsyncrc"
    rc.write_text(MBSYNCRC.format(port=port, user=USER, password=PW, maildir=maildir))
    start = time.perf_counter()
    subprocess.run(
        ["mbsync", "-c", str(rc), "-q", "-a"], check=True, capture_output=True, timeout=1800
    )
    seconds = time.perf_counter() - start
    got = sum(1 for sub in ("new", "cur") for _ in (maildir / "INBOX" / sub).iterdir())
    assert got == count, f"mbsync fetched {got} of {count}"
    return seconds


@contextmanager
def py_spy(pid: int | None, out_dir: Path | None, phase: str) -> Iterator[None]:
    """Record raw py-spy stacks of the server during a phase, when asked to."""
    if pid is None or out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
    argv += ["--output", str(out_dir / f"{phase}.txt"), "--idle", "--nonblocking"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


async def run_phases(
    result: Result, port: int, args: argparse.Namespace, work: Path, pid: int | None = None
) -> None:
    messages = [make_message(n, args.size) for n in range(args.messages)]
    profile = args.py_spy if pid is not None else None
    with py_spy(pid, profile, "append"):
        result.seconds["append"] = await phase_append(port, messages)
    with py_spy(pid, profile, "fetch"):
        flags, bodies = await phase_fetch(port, args.messages, args.runs)
    result.seconds["select+fetch flags"] = flags
    result.seconds["fetch bodies"] = bodies
    with py_spy(pid, profile, "logins"):
        result.seconds["login/logout"] = await phase_logins(port, args.logins)
    with py_spy(pid, profile, "mbsync"):
        result.seconds["mbsync"] = await asyncio.to_thread(phase_mbsync, port, work, args.messages)


# -- 1,000 connections in IDLE (Mailgate) ---------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle_connection(port: int) -> Client:
    c = await Client.connect(port)
    await c.login(IDLE_USER)
    await c.command("SELECT INBOX")
    c.n += 1
    c.writer.write(b"b%d IDLE\r\n" % c.n)
    line = await c.response()
    assert line.startswith(b"+"), line
    return c


async def phase_idle(result: Result, port: int, pid: int, args: argparse.Namespace) -> None:
    await asyncio.sleep(2)  # let the previous phase's work settle
    before_rss = rss_kib(pid)
    clients: list[Client] = []
    start = time.perf_counter()
    for i in range(0, args.idle, 50):
        batch = min(50, args.idle - i)
        clients += await asyncio.gather(*(idle_connection(port) for _ in range(batch)))
    opened = time.perf_counter() - start
    after_rss = rss_kib(pid)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.idle_seconds)
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    end_rss = rss_kib(pid)
    extra_mib = (max(after_rss, end_rss) - before_rss) / 1024
    cpu_pct = (cpu1 - cpu0) / (t1 - t0) * 100
    # one new message: how long until every IDLE connection has seen it
    sender = await Client.connect(port)
    await sender.login(IDLE_USER)
    pushed = time.perf_counter()
    await sender.command("APPEND INBOX", make_message(10**6))

    async def seen(c: Client) -> None:
        while not (await c.response()).endswith(b" EXISTS"):
            pass

    await asyncio.wait_for(asyncio.gather(*(seen(c) for c in clients)), 60)
    push = time.perf_counter() - pushed
    await sender.close()
    for c in clients:
        c.writer.close()
    await asyncio.sleep(1)
    result.seconds[f"{args.idle} IDLE: open+login"] = opened
    result.notes += [
        f"{args.idle} IDLE connections: extra RSS {extra_mib:.1f} MiB "
        f"(server {before_rss / 1024:.0f} -> {max(after_rss, end_rss) / 1024:.0f} MiB), "
        f"CPU {cpu_pct:.2f}% of one core over {t1 - t0:.0f} s, "
        f"one new message reached all {args.idle} in {push * 1000:.0f} ms",
    ]


# -- Mailgate ------------------------------------------------------------------------------


def mailgate_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    env.update(
        MAILGATE_DATA_DIR=str(work / "mailgate"),
        MAILGATE_WEB__PORT=str(free_port()),
        MAILGATE_SMTP__MX_PORT=str(free_port()),
        MAILGATE_SMTP__SUBMISSION_PORT=str(free_port()),
        MAILGATE_SMTP__SUBMISSIONS_PORT=str(free_port()),
        MAILGATE_IMAP__PORT=str(free_port()),
        MAILGATE_IMAP__TLS_PORT="0",
        MAILGATE_IMAP__ALLOW_PLAINTEXT_ON_LOOPBACK="true",
        MAILGATE_IMAP__MAX_CONNECTIONS_PER_IP="5000",
        MAILGATE_POP3__PORT="0",
        MAILGATE_POP3__TLS_PORT="0",
        MAILGATE_OUTBOUND__ENABLED="false",
    )
    return env


def run_mailgate(args: argparse.Namespace, work: Path) -> Result:
    env = mailgate_env(work)

    def cli(*argv: str, stdin: str | None = None, extra: dict[str, str] | None = None) -> None:
        subprocess.run(
            [sys.executable, "-m", "mailgate", *argv],
            env={**env, **(extra or {})},
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )

    cli("init", "--admin", "root@ops.test", "--password-stdin", stdin=PW + "\n")
    cli("org", "create", "bench", "--name", "Bench")
    cli("domain", "add", "bench.test", "--org", "bench")
    for user, extra in ((USER, {}), (IDLE_USER, CHEAP_HASH)):
        cli("account", "create", user, "--password-stdin", "--skip-first-login",
            "--quota", "100GiB", stdin=PW + "\n", extra=extra)  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    result = Result("Mailgate")
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.startswith("Mailgate IMAP on"):
                break
        else:
            raise RuntimeError(f"mailgate serve exited with {server.wait()}")
        asyncio.run(
            mailgate_phases(result, int(env["MAILGATE_IMAP__PORT"]), args, work, server.pid)
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
    return result


async def mailgate_phases(
    result: Result, port: int, args: argparse.Namespace, work: Path, pid: int
) -> None:
    await run_phases(result, port, args, work, pid)
    if args.idle:
        with py_spy(pid, args.py_spy, "idle"):
            await phase_idle(result, port, pid, args)


CHEAP_HASH = {
    "MAILGATE_SECURITY__ARGON2_TIME_COST": "1",
    "MAILGATE_SECURITY__ARGON2_MEMORY_KIB": "8192",
    "MAILGATE_SECURITY__ARGON2_PARALLELISM": "1",
}


# -- Dovecot -------------------------------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
ssl = no
protocols = imap
listen = 127.0.0.1
mail_location = maildir:{d}/mail
mail_fsync = always
mail_uid = 65534
mail_gid = 65534
default_internal_user = nobody
default_login_user = nobody
auth_mechanisms = plain login
disable_plaintext_auth = no
auth_cache_size = 10M
auth_cache_ttl = 5 mins
auth_cache_negative_ttl = 0
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def run_dovecot(args: argparse.Namespace, work: Path) -> Result:
    base = work / "dovecot"
    for sub in ("run", "state", "home", "mail/new", "mail/cur", "mail/tmp"):
        (base / sub).mkdir(parents=True)
    base.chmod(0o755)
    for sub in ("home", "mail", "mail/new", "mail/cur", "mail/tmp"):
        os.chown(base / sub, 65534, 65534)
    hashed = subprocess.run(
        ["doveadm", "pw", "-s", "ARGON2ID", "-p", PW],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    (base / "passwd").write_text(f"{USER}:{hashed}\n")
    port = free_port()
    conf = base / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(d=base, port=port))
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stderr=subprocess.DEVNULL)
    result = Result("Dovecot")
    result.notes.append(f"Dovecot password hash: {hashed.split('$')[3]} (libsodium)")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Dovecot did not start: see {base}/log")
            time.sleep(0.1)
        asyncio.run(run_phases(result, port, args, work))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return result


# -- main ----------------------------------------------------------------------------------


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\n{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; {args.messages} messages of {args.size} bytes, "
        f"{args.logins} logins, median of {args.runs} FETCH runs"
    )
    phases = list(dict.fromkeys(p for r in results for p in r.seconds))
    names = [r.name for r in results]
    head = f"{'phase':<28}" + "".join(f"{n:>12}" for n in names)
    if len(results) == 2:
        head += f"{'ratio':>10}"
    print(head)
    for phase in phases:
        values = [r.seconds.get(phase) for r in results]
        line = f"{phase:<28}" + "".join(
            f"{v:>11.3f}s" if v is not None else f"{'-':>12}" for v in values
        )
        if len(results) == 2 and values[0] is not None and values[1]:
            line += f"{values[0] / values[1]:>9.2f}x"
        print(line)
    for r in results:
        for note in r.notes:
            print(f"{r.name}: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="FETCH runs (median)")
    parser.add_argument("--idle", type=int, default=1000, help="IDLE connections (0: skip)")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=["mailgate", "dovecot"])
    parser.add_argument("--py-spy", type=Path, help="record py-spy raw stacks here")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 3 * args.idle + 1024)), hard))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-imap-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        if args.only != "dovecot":
            results.append(run_mailgate(args, work))
        if args.only != "mailgate":
            if os.geteuid() != 0:
                print("Dovecot skipped: its master process needs root", file=sys.stderr)
            else:
                results.append(run_dovecot(args, work))
    report(results, args)


if __name__ == "__main__":
    main()
