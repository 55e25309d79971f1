"""A resolver over a dictionary: tests never send a DNS query anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeResolver:
    records: dict[tuple[str, str], list[object]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # names whose lookups fail (SERVFAIL)
    queries: int = 0

    def add(self, name: str, kind: str, *values: object) -> FakeResolver:
        self.records.setdefault((name.lower(), kind), []).extend(values)
        return self

    def _get(self, name: str, kind: str) -> list[object]:
        self.queries += 1
        if name.lower() in self.broken:
            raise OSError(f"SERVFAIL for {name}")
        return list(self.records.get((name.lower().rstrip("."), kind), []))

    async def txt(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "TXT")]

    async def a(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "A")]

    async def aaaa(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "AAAA")]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for v in self._get(name, "MX"):
            assert isinstance(v, tuple)
            out.append((int(v[0]), str(v[1])))
        return out
