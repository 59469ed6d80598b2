"""What the watch folder refused: list ``<watch>/failed/``, retry an entry, delete one.

An entry's id is its path relative to ``failed/`` (POSIX form). Ids come from the admin API, so each is
checked before use: no absolute path, no ``..``, and the resolved file must stay inside ``failed/`` (a
symlink pointing out of it is refused, never followed). A retry moves the file and its sidecars back to
the same sub-folder of the watch folder, where the watcher picks it up again, and drops its
``.error.txt``; a delete removes the file, its sidecars and its ``.error.txt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from kdrama_tui.errors import Conflict, NotFound, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.services.ingest.importer import FAILED_DIR

ERROR_SUFFIX = ".error.txt"


@dataclass(frozen=True)
class FailedImport:
    id: str  # relative to failed/, POSIX separators
    size: int
    reason: str
    failed_at: datetime
    sidecars: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "path": self.id, "size": self.size, "reason": self.reason,
                "failed_at": self.failed_at.isoformat(), "sidecars": list(self.sidecars)}


def read_reason(error_file: Path) -> str:
    """The reason line(s) of an ``.error.txt``: between the header line and the blank line."""
    try:
        lines = error_file.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown (no .error.txt)"
    body: list[str] = []
    for line in lines[1:]:
        if not line.strip():
            break
        body.append(line)
    return "\n".join(body) or "unknown"


class FailedImports:
    """The ``failed/`` folder of one watch folder."""

    def __init__(self, watch_root: Path) -> None:
        self.watch_root = watch_root
        self.root = watch_root / FAILED_DIR

    def resolve(self, entry_id: str) -> Path:
        """The file an id names, refusing anything outside ``failed/`` (ValidationError / NotFound)."""
        pure = PurePosixPath(entry_id)
        if not entry_id or pure.is_absolute() or "\\" in entry_id or any(p in ("..", "") for p in pure.parts) \
                or entry_id.startswith("/") or "//" in entry_id:
            raise ValidationError("not a path inside failed/", code="invalid_path", details={"id": entry_id})
        path = self.root.joinpath(*pure.parts)
        root = self.root.resolve()
        # every component must be a real folder/file inside failed/: no symlink anywhere on the way
        current = self.root
        for part in pure.parts:
            current = current / part
            if current.is_symlink():
                raise ValidationError("symlinks in failed/ are not followed", code="invalid_path",
                                      details={"id": entry_id})
        if not path.resolve().is_relative_to(root):
            raise ValidationError("not a path inside failed/", code="invalid_path", details={"id": entry_id})
        if not path.is_file() or path.name.endswith(ERROR_SUFFIX):
            raise NotFound("no such failed import", code="not_found", details={"id": entry_id})
        return path

    def _sidecars(self, path: Path) -> list[Path]:
        stem = path.stem
        return sorted(p for p in path.parent.iterdir()
                      if p != path and p.is_file() and not p.is_symlink() and p.name.startswith(stem + ".")
                      and not p.name.endswith(ERROR_SUFFIX) and p.suffix.lower() in (".json", ".srt", ".vtt", ".ass"))

    def list(self) -> list[FailedImport]:
        """Every refused file (one with an ``.error.txt`` beside it), newest failure first."""
        if not self.root.is_dir():
            return []
        items: list[FailedImport] = []
        for error_file in self.root.rglob("*" + ERROR_SUFFIX):
            target = error_file.with_name(error_file.name[: -len(ERROR_SUFFIX)])
            if error_file.is_symlink() or target.is_symlink() or not target.is_file():
                continue
            st = error_file.stat()
            items.append(FailedImport(
                id=target.relative_to(self.root).as_posix(), size=target.stat().st_size,
                reason=read_reason(error_file), failed_at=datetime.fromtimestamp(st.st_mtime, UTC),
                sidecars=tuple(p.name for p in self._sidecars(target))))
        items.sort(key=lambda item: (item.failed_at, item.id), reverse=True)
        return items

    def retry(self, entry_id: str) -> Path:
        """Move the file (and sidecars) back to its sub-folder of the watch folder; returns where."""
        path = self.resolve(entry_id)
        folder = self.watch_root.joinpath(*PurePosixPath(entry_id).parent.parts)
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / path.name
        if destination.exists():
            raise Conflict(f"{destination.name} already exists in the watch folder", details={"id": entry_id})
        sidecars = self._sidecars(path)
        for sidecar in sidecars:  # sidecars first: the watcher sees the video complete with them
            with contextlib.suppress(OSError):
                if not (folder / sidecar.name).exists():
                    os.rename(sidecar, folder / sidecar.name)
        os.rename(path, destination)
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + ERROR_SUFFIX).unlink()
        return destination

    def delete(self, entry_id: str) -> None:
        """Remove the file, its sidecars and its ``.error.txt``."""
        path = self.resolve(entry_id)
        for leftover in (*self._sidecars(path), path.with_name(path.name + ERROR_SUFFIX), path):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


class FailedImportsService:
    """The ``failed/`` folders of every watch folder, for the admin API: ``folder`` is the watch folder's
    index in ``[ingest] watch_dirs`` (0 for the default one). File work runs in a thread."""

    def __init__(self, watch_roots: Sequence[Path], events: EventBus) -> None:
        self.folders = [FailedImports(root) for root in watch_roots]
        self.events = events

    def _folder(self, folder: int) -> FailedImports:
        if not 0 <= folder < len(self.folders):
            raise NotFound(f"no watch folder {folder} (there are {len(self.folders)})")
        return self.folders[folder]

    async def list(self) -> list[dict[str, object]]:
        """Every refused file of every watch folder, newest first, each naming its folder."""
        found: list[tuple[FailedImport, int]] = []
        for index, folder in enumerate(self.folders):
            found += [(item, index) for item in await asyncio.to_thread(folder.list)]
        found.sort(key=lambda pair: (pair[0].failed_at, pair[0].id), reverse=True)
        return [{**item.to_dict(), "folder": index, "watch_folder": str(self.folders[index].watch_root)}
                for item, index in found]

    async def retry(self, folder: int, entry_id: str) -> str:
        """Put it back where the watcher picks it up again (it is imported afresh, or refused again)."""
        destination = await asyncio.to_thread(self._folder(folder).retry, entry_id)
        self.events.publish("ingest.retried", folder=folder, id=entry_id, path=str(destination))
        return str(destination)

    async def delete(self, folder: int, entry_id: str) -> None:
        await asyncio.to_thread(self._folder(folder).delete, entry_id)
        self.events.publish("ingest.failed_deleted", folder=folder, id=entry_id)
