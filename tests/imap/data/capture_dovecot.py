"""Capture Dovecot's FETCH answers for the sample messages into dovecot_expected.json.

Run by hand against a throw-away Dovecot on loopback (see test_mime_dovecot.py for the
settings used); the JSON it writes is the golden file that the tests compare against.

    python tests/imap/data/capture_dovecot.py 31143
"""

from __future__ import annotations

import base64
import imaplib
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent

SECTIONS = [
    "",
    "HEADER",
    "TEXT",
    "HEADER.FIELDS (FROM SUBJECT)",
    "HEADER.FIELDS.NOT (FROM subject Received)",
    "1",
    "1.MIME",
    "1.HEADER",
    "1.TEXT",
    "1.1",
    "1.2",
    "1.2.MIME",
    "2",
    "2.MIME",
    "2.HEADER",
    "2.TEXT",
    "2.1",
    "2.1.MIME",
    "2.2",
    "2.HEADER.FIELDS (Subject)",
    "3",
    "3.MIME",
    "4",
    "4.HEADER",
    "5",
    "9",
    "1.9",
]
PARTIALS = ["<0.10>", "<5.3>", "<100000.10>"]
BINARY = ["1", "1.1", "1.2", "2", "3", "4", "5", ""]


def wire(data: list[object]) -> bytes:
    """Rebuild the untagged FETCH response bytes from imaplib's pieces."""
    out = b""
    for piece in data:
        if isinstance(piece, tuple):
            out += piece[0] + b"\r\n" + piece[1]
        elif isinstance(piece, bytes):
            out += piece
    return out


def main() -> None:
    port = int(sys.argv[1])
    names = sorted(p.name for p in HERE.glob("*.eml"))
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login("test", "pw")
    imap.select("INBOX")
    result: dict[str, dict[str, str]] = {}
    for index, name in enumerate(names, start=1):
        imap.append("INBOX", None, None, (HERE / name).read_bytes())
        items: dict[str, str] = {}
        queries = ["ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE"]
        queries += [f"BODY.PEEK[{s}]" for s in SECTIONS]
        queries += [f"BODY.PEEK[]{p}" for p in PARTIALS]
        queries += [f"BODY.PEEK[TEXT]{p}" for p in PARTIALS[:2]]
        queries += ["RFC822.HEADER", "RFC822.TEXT"]
        queries += [f"BINARY.PEEK[{s}]" for s in BINARY]
        queries += [f"BINARY.SIZE[{s}]" for s in BINARY]
        for query in queries:
            typ, data = imap.fetch(str(index), f"({query})")
            if typ != "OK":
                items[query] = "NO"
                continue
            raw = wire(data)
            items[query] = base64.b64encode(raw).decode()
        result[name] = items
    imap.logout()
    out = HERE / "dovecot_expected.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
