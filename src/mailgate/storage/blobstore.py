"""A content-addressed blob store on the local filesystem.

Layout: ROOT/ab/abcd...64 hex: 256 shard directories, created once, so that writing a blob
needs one directory fsync (its shard) rather than creating and syncing new directories most of
the time, as two levels (65,536 directories) did. ext4's hashed directories keep lookups fast
with millions of files per shard. A blob is written to a temporary file in its shard
directory, fsynced, renamed into place and the directory fsynced, so a blob either exists whole
or not at all, and exists durably once `put` returns. Identical bodies are stored once; storing
one again refreshes its modification time, which the garbage collector respects.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from pathlib import Path

from mailgate.domain.errors import NotFound

_HEX = frozenset("0123456789abcdef")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, blob_id: str) -> Path:
        if len(blob_id) != 64 or not set(blob_id) <= _HEX:
            raise NotFound(f"no blob {blob_id[:80]!r}")
        return self.root / blob_id[:2] / blob_id

    def _put(self, data: bytes, blob_id: str) -> None:
        final = self.path(blob_id)
        try:
            # Already stored: refresh its age so the garbage collector leaves it alone.
            os.utime(final)
            return
        except FileNotFoundError:
            pass
        shard = final.parent
        new_dirs = not shard.exists()
        shard.mkdir(parents=True, exist_ok=True)
        tmp = shard / f".tmp-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        _fsync_dir(shard)
        if new_dirs:
            _fsync_dir(self.root)

    async def put(self, data: bytes) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        try:
            # Already stored (a copy, a retry, the check after a commit): refreshing its age is
            # one metadata update, not worth a trip to a worker thread.
            os.utime(self.path(blob_id))
        except FileNotFoundError:
            await asyncio.to_thread(self._put, data, blob_id)
        return blob_id

    def read(self, blob_id: str) -> bytes:
        try:
            return self.path(blob_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {blob_id}") from None

    async def get(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.read, blob_id)

    async def delete(self, blob_id: str) -> None:
        def remove() -> None:
            self.path(blob_id).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def list_older_than(self, seconds: float) -> list[str]:
        """Blob ids (and stale temporary files, removed on the way) older than `seconds`."""

        def scan() -> list[str]:
            limit = time.time() - seconds
            found: list[str] = []
            for shard in self.root.iterdir():
                if not shard.is_dir():
                    continue
                for entry in shard.iterdir():
                    try:
                        old = entry.stat().st_mtime < limit
                    except FileNotFoundError:
                        continue
                    if entry.name.startswith(".tmp-"):
                        if old:
                            entry.unlink(missing_ok=True)
                    elif old:
                        found.append(entry.name)
            return found

        return await asyncio.to_thread(scan)
