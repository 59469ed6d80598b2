"""The design's base repository: find_by_id, create, update, delete, plus filtered listing.

Column names come only from the model's dataclass fields (checked here), values only as bound parameters,
so no caller-provided text ever reaches the SQL string.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from kdrama_tui.db.base import Executor
from kdrama_tui.errors import NotFound
from kdrama_tui.models import Model, utcnow

M = TypeVar("M", bound=Model)


class BaseRepository(Generic[M]):
    table: ClassVar[str]
    model: ClassVar[type[Model]]
    not_found_message: ClassVar[str] = "record not found"

    def __init__(self, db: Executor) -> None:
        self.db = db

    @classmethod
    def columns(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls.model))  # type: ignore[arg-type]

    def _check_columns(self, names: Sequence[str] | frozenset[str]) -> None:
        unknown = set(names) - self.columns()
        if unknown:
            raise ValueError(f"unknown column(s) for {self.table}: {', '.join(sorted(unknown))}")

    def _row(self, row: dict[str, Any] | None) -> M | None:
        return None if row is None else self.model.from_row(row)  # type: ignore[return-value]

    def _rows(self, rows: list[dict[str, Any]]) -> list[M]:
        return [self.model.from_row(r) for r in rows]  # type: ignore[misc]

    async def find_by_id(self, id: int) -> M | None:
        return self._row(await self.db.fetch_one(f"SELECT * FROM {self.table} WHERE id = :id", {"id": id}))

    async def get(self, id: int) -> M:
        found = await self.find_by_id(id)
        if found is None:
            raise NotFound(self.not_found_message)
        return found

    async def create(self, data: Mapping[str, Any]) -> M:
        data = {k: v for k, v in data.items() if k != "id"}
        self._check_columns(list(data))
        names = ", ".join(data)
        values = ", ".join(f":{k}" for k in data)
        sql = f"INSERT INTO {self.table} ({names}) VALUES ({values}) RETURNING *"
        row = await self.db.fetch_one(sql, data)
        assert row is not None
        return self._row(row)  # type: ignore[return-value]

    async def update(self, id: int, data: Mapping[str, Any]) -> M | None:
        """Change the given columns; ``updated_at`` is maintained here for tables that have it."""
        data = dict(data)
        data.pop("id", None)
        if "updated_at" in self.columns():
            data.setdefault("updated_at", utcnow())
        if not data:
            return await self.find_by_id(id)
        self._check_columns(list(data))
        assignments = ", ".join(f"{k} = :{k}" for k in data)
        row = await self.db.fetch_one(
            f"UPDATE {self.table} SET {assignments} WHERE id = :id RETURNING *", {**data, "id": id})
        return self._row(row)

    async def delete(self, id: int) -> bool:
        return await self.db.execute(f"DELETE FROM {self.table} WHERE id = :id", {"id": id}) > 0

    def _where(self, filters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        self._check_columns(list(filters))
        clauses, params = [], {}
        for i, (name, value) in enumerate(filters.items()):
            if value is None:
                clauses.append(f"{name} IS NULL")
            elif isinstance(value, list | tuple | set | frozenset):
                keys = [f"w{i}_{j}" for j in range(len(value))]
                params.update(dict(zip(keys, value, strict=True)))
                clauses.append(f"{name} IN ({', '.join(':' + k for k in keys)})" if keys else "1 = 0")
            else:
                params[f"w{i}"] = value
                clauses.append(f"{name} = :w{i}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _order(self, order_by: str) -> str:
        parts = []
        for item in order_by.split(","):
            name, _, direction = item.strip().partition(" ")
            direction = direction.strip().upper() or "ASC"
            self._check_columns([name])
            if direction not in ("ASC", "DESC"):
                raise ValueError(f"bad sort direction {direction!r}")
            parts.append(f"{name} {direction}")
        return ", ".join(parts)

    async def list(self, filters: Mapping[str, Any] | None = None, *, order_by: str = "id",
                   limit: int | None = None, offset: int = 0) -> list[M]:
        where, params = self._where(filters or {})
        sql = f"SELECT * FROM {self.table}{where} ORDER BY {self._order(order_by)}"
        if limit is not None:
            sql += " LIMIT :limit OFFSET :offset"
            params.update(limit=int(limit), offset=int(offset))
        return self._rows(await self.db.fetch_all(sql, params))

    async def count(self, filters: Mapping[str, Any] | None = None) -> int:
        where, params = self._where(filters or {})
        return int(await self.db.fetch_value(f"SELECT COUNT(*) AS n FROM {self.table}{where}", params))

    async def find_one_by(self, **filters: Any) -> M | None:
        found = await self.list(filters, limit=1)
        return found[0] if found else None
