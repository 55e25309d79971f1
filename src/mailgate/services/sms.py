"""SMS providers behind the `SmsSender` port (issue #5 item 6).

- `FileSmsSender` appends each message as one JSON line to a file: for development, demos and
  tests (`security.sms_provider = "file"`, the default, writes DATA_DIR/sms-outbox.jsonl).
- `WebhookSmsSender` POSTs `{"to": "+8613800138000", "text": "..."}` as JSON to a configured
  http(s) URL with an optional bearer token: the glue for any SMS gateway (Aliyun, Tencent
  Cloud, Twilio ...) through a small adapter of the company's choice. Any 2xx is success.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mailgate.domain.ports import SmsUnavailable

_MAX_TEXT = 500


class FileSmsSender:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send(self, phone: str, text: str) -> None:
        line = json.dumps({"to": phone, "text": text[:_MAX_TEXT]}, ensure_ascii=False) + "\n"
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                raise SmsUnavailable(f"cannot write {self.path}: {exc.strerror}") from exc

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def messages(self) -> list[dict[str, str]]:
        """Everything written so far (for the CLI and tests)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


class WebhookSmsSender:
    def __init__(self, url: str, token: str = "", timeout_seconds: float = 5.0) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the SMS webhook URL must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.timeout_seconds = timeout_seconds

    async def send(self, phone: str, text: str) -> None:
        body = json.dumps({"to": phone, "text": text[:_MAX_TEXT]}, ensure_ascii=False).encode()
        try:
            status = await asyncio.wait_for(
                asyncio.to_thread(self._post, body), self.timeout_seconds + 1
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise SmsUnavailable(f"SMS webhook failed: {exc.__class__.__name__}") from exc
        if not 200 <= status < 300:
            raise SmsUnavailable(f"SMS webhook answered {status}")

    def _post(self, body: bytes) -> int:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "mailgate"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
