"""Benchmark: SMTP ingest with Postfix's `smtp-source`, Mailgate's MX against Postfix itself.

Both run on this machine on loopback, both acknowledge a message only once it is on disk:
- Mailgate: `python -m mailgate serve` on a temporary data dir (SQLite WAL, synchronous=FULL,
  blobs fsynced, group commit); its 250 means "in the recipient's mailbox".
- Postfix: a private instance (`postfix -c DIR`, own queue and data dirs, port 127.0.0.1:10025)
  delivering with `virtual` to a Maildir; its 250 means "in the queue, fsynced"; delivery to the
  Maildir happens after. We time both the acceptance (smtp-source finishing) and the moment the
  last message is in the Maildir.

    python bench/smtp_ingest.py            # smtp-source -s 20 -m 2000 -l 4096 against both
    python bench/smtp_ingest.py --messages 500 --only mailgate

Postfix needs root here (its master process); the benchmark skips it otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
PW = "a-long-enough-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smtp_source(port: int, sessions: int, messages: int, length: int, to: str) -> float:
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(length)]
    argv += ["-f", "bench@example.org", "-t", to, f"127.0.0.1:{port}"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def wait_for(predicate: object, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)


# -- Mailgate ------------------------------------------------------------------------------


def run_mailgate(args: argparse.Namespace, work: Path) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    port = free_port()
    env.update(
        MAILGATE_DATA_DIR=str(work / "mailgate"),
        MAILGATE_WEB__PORT=str(free_port()),
        MAILGATE_SMTP__MX_PORT=str(port),
        MAILGATE_SMTP__SUBMISSION_PORT=str(free_port()),
        MAILGATE_SMTP__SUBMISSIONS_PORT=str(free_port()),
        MAILGATE_IMAP__PORT="0",
        MAILGATE_IMAP__TLS_PORT="0",
        MAILGATE_POP3__PORT="0",
        MAILGATE_POP3__TLS_PORT="0",
        MAILGATE_OUTBOUND__ENABLED="false",
    )

    def cli(*argv: str, stdin: str | None = None) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "mailgate", *argv],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return res.stdout

    cli("init", "--admin", "root@ops.test", "--password-stdin", stdin=PW + "\n")
    cli("org", "create", "bench", "--name", "Bench")
    cli("domain", "add", "bench.test", "--org", "bench")
    cli("account", "create", "user@bench.test", "--password-stdin", "--skip-first-login",
        "--quota", "100GiB", stdin=PW + "\n")  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.startswith("Mailgate SMTP on"):
                break
        seconds = smtp_source(port, args.sessions, args.messages, args.length, "user@bench.test")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        if server.stdout is not None:
            server.stdout.close()
    listed = cli("--json", "mailbox", "list", "user@bench.test", "--limit", "1")
    stored = int(listed.rsplit('"total":', 1)[1].strip(" }\n"))
    return seconds, stored


# -- Postfix -------------------------------------------------------------------------------

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.local
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = bench.test
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:user/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_destination_concurrency_limit = 20
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
smtputf8_enable = no
"""


def run_postfix(args: argparse.Namespace, work: Path) -> tuple[float, float, int]:
    conf = work / "postfix"
    for sub in ("queue", "data", "mail"):
        (conf / sub).mkdir(parents=True)
    uid = gid = 65534  # nobody/nogroup: virtual(8) refuses to deliver as root
    os.chown(conf / "mail", uid, gid)
    shutil.chown(conf / "data", "postfix")
    (conf / "main.cf").write_text(MAIN_CF.format(d=conf, uid=uid, gid=gid), encoding="utf-8")
    port = free_port()
    master = Path("/etc/postfix/master.cf").read_text(encoding="utf-8")
    lines = []
    for line in master.splitlines():
        if line.startswith("smtp      inet"):
            line = line.replace("smtp      inet", f"127.0.0.1:{port} inet", 1)
        if line.startswith("postlog"):
            continue
        service = " inet " in line or " unix " in line
        lines.append(line.replace(" y ", " n ", 1) if service else line)  # no chroot
    (conf / "master.cf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["postfix", "-c", str(conf), "set-permissions"], check=False,
                   capture_output=True)  # fmt: skip
    subprocess.run(["postfix", "-c", str(conf), "start"], check=True, capture_output=True)
    maildir = conf / "mail" / "user" / "new"
    try:
        wait_for(lambda: _listening(port), 30)
        start = time.perf_counter()
        accepted = smtp_source(port, args.sessions, args.messages, args.length, "user@bench.test")
        wait_for(lambda: maildir.is_dir() and len(os.listdir(maildir)) >= args.messages)
        delivered = time.perf_counter() - start
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], check=False, capture_output=True)
    return accepted, delivered, len(os.listdir(maildir)) if maildir.is_dir() else 0


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--only", choices=["mailgate", "postfix"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mg-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # noqa: S103 - Postfix's unprivileged daemons must traverse it
        cmd = f"smtp-source -s {args.sessions} -m {args.messages} -l {args.length}"
        print(f"{cmd}, loopback, {os.cpu_count()} CPUs")
        mg_rate = pf_rate = pf_delivered_rate = 0.0
        if args.only != "postfix":
            seconds, stored = run_mailgate(args, work)
            mg_rate = args.messages / seconds
            print(f"Mailgate MX: {seconds:.2f} s, {mg_rate:.0f} msgs/s, {stored} stored")
        if args.only != "mailgate":
            if os.geteuid() != 0:
                print("Postfix: skipped (needs root for its master process)")
            else:
                accepted, delivered, count = run_postfix(args, work)
                pf_rate = args.messages / accepted
                pf_delivered_rate = args.messages / delivered
                print(
                    f"Postfix: accepted in {accepted:.2f} s ({pf_rate:.0f} msgs/s), "
                    f"all {count} in the Maildir after {delivered:.2f} s "
                    f"({pf_delivered_rate:.0f} msgs/s)"
                )
        if mg_rate and pf_rate:
            print(
                f"ratio Mailgate/Postfix: {mg_rate / pf_rate:.2f}x (acceptance), "
                f"{mg_rate / pf_delivered_rate:.2f}x (to the mailbox); target >= 1.5x"
            )


if __name__ == "__main__":
    main()
