"""Crash safety (issue 3): 20 concurrent senders, `kill -9` of `mailgate serve` mid-way, restart.

Every message that got a 250 is stored exactly once, every blob the metadata refers to exists,
and the garbage collector removes what nothing refers to (including bodies a crash left behind
without metadata).
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from mailgate.bootstrap import Runtime
from mailgate.domain.access import operator
from mailgate.settings import load_settings
from mailgate.storage.blobstore import FileBlobStore

SENDERS = 20
RECIPIENTS = [f"u{n}@acme.test" for n in range(4)]
PW = "a-long-enough-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "mailgate", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # the announcement comes once the listeners are bound
        if line.startswith("Mailgate SMTP on"):
            return proc
        assert time.monotonic() < deadline
    raise AssertionError(f"mailgate serve exited with {proc.wait()}")


def sender(
    port: int, index: int, acked: list[str], stop: threading.Event, progress: threading.Condition
) -> None:
    try:
        _send_until_stopped(port, index, acked, stop, progress)
    finally:
        with progress:
            progress.notify_all()


def _send_until_stopped(
    port: int, index: int, acked: list[str], stop: threading.Event, progress: threading.Condition
) -> None:
    n = 0
    while not stop.is_set():
        subject = f"c{index}-{n}"
        rcpts = [RECIPIENTS[(index + n) % 4]] + ([RECIPIENTS[(index + n + 1) % 4]] if n % 3 else [])
        data = f"From: s{index}@example.org\r\nSubject: {subject}\r\n\r\n{'x' * 700}\r\n"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                if client.sendmail(f"s{index}@example.org", rcpts, data.encode()) == {}:
                    with progress:
                        acked.extend(f"{subject}>{r}" for r in rcpts)
                        progress.notify_all()
        except (OSError, smtplib.SMTPException):
            return
        n += 1


def test_kill_9_loses_nothing_acknowledged(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(cli_env)
    ports = {name: free_port() for name in ("MX", "SUBMISSION", "SUBMISSIONS")}
    env.update({f"MAILGATE_SMTP__{name}_PORT": str(port) for name, port in ports.items()})
    env["MAILGATE_SMTP__MAX_CONNECTIONS_PER_IP"] = "100"
    env["MAILGATE_WEB__PORT"] = str(free_port())
    # IMAP and POP3 are not under test here: let them take any free port.
    for name in ("IMAP__PORT", "IMAP__TLS_PORT", "POP3__PORT", "POP3__TLS_PORT"):
        env[f"MAILGATE_{name}"] = "0"
    env["MAILGATE_OUTBOUND__ENABLED"] = "false"
    cli(env, "init", "--admin", "root@ops.test", "--password-stdin", stdin=PW + "\n")
    cli(env, "org", "create", "acme", "--name", "Acme")
    cli(env, "domain", "add", "acme.test", "--org", "acme")
    for address in RECIPIENTS:
        cli(env, "account", "create", address, "--password-stdin", "--skip-first-login", stdin=PW)

    server = start(env)
    acked: list[str] = []
    progress = threading.Condition()
    stop = threading.Event()
    threads = [
        threading.Thread(target=sender, args=(ports["MX"], i, acked, stop, progress), daemon=True)
        for i in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    with progress:  # woken by every acknowledgement (and by senders that give up)
        progress.wait_for(
            lambda: len(acked) >= 300 or not any(t.is_alive() for t in threads), timeout=60
        )
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    assert server.stdout is not None
    server.stdout.close()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acked) >= 50, "too few messages were acknowledged before the kill"

    restarted = start(env)
    with smtplib.SMTP("127.0.0.1", ports["MX"], timeout=10) as client:
        client.sendmail("after@example.org", [RECIPIENTS[0]], b"Subject: after\r\n\r\nok\r\n")
    acked.append(f"after>{RECIPIENTS[0]}")
    restarted.send_signal(signal.SIGINT)
    assert restarted.wait(timeout=30) == 0
    assert restarted.stdout is not None
    restarted.stdout.close()

    settings = load_settings(data_dir=Path(env["MAILGATE_DATA_DIR"]))
    asyncio.run(_check(Runtime(settings), settings.data_dir / "blobs", acked))


async def _check(runtime: Runtime, blob_root: Path, acked: list[str]) -> None:
    root = operator("cli:test")
    store = FileBlobStore(blob_root)
    orphan = await store.put(b"a body whose metadata never committed\r\n")
    async with runtime.services() as services:
        stored: Counter[str] = Counter()
        referenced: set[str] = set()
        for address in RECIPIENTS:
            offset = 0
            while True:
                found, total = await services.mailstore.messages(
                    root, address, "INBOX", offset, 500
                )
                for m in found:
                    stored[f"{m.headers.subject}>{address}"] += 1
                    referenced.add(m.blob_id)
                offset += len(found)
                if offset >= total:
                    break
        assert not [key for key, count in stored.items() if count > 1], "duplicates"
        missing = [key for key in acked if stored[key] != 1]
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        for blob_id in referenced:
            assert store.path(blob_id).is_file(), f"metadata refers to a missing blob {blob_id}"
        report = await services.mailstore.collect_garbage(root, grace_seconds=0)
        assert report.orphans >= 1
        on_disk = set(await store.list_older_than(-60))
        assert orphan not in on_disk
        assert on_disk == referenced
