"""Episode numbering as the Series section shows it: labels, the numbers missing in a season, spans."""

from __future__ import annotations

from typing import Any


def label(season: int | None, episode: int | None, end: int | None = None) -> str:
    text = f"S{season or 0:02d}E{episode or 0:02d}"
    return text + (f"-E{end:02d}" if end is not None else "")


def missing_numbers(episodes: list[dict[str, Any]]) -> list[int]:
    """Episode numbers below a season's highest that no file covers (as the numbering API counts them)."""
    covered: set[int] = set()
    for ep in episodes:
        start = ep.get("episode") or 0
        covered.update(range(start, (ep.get("episode_end") or start) + 1))
    return [n for n in range(1, max(covered, default=0)) if n not in covered]


def season_gaps(detail: dict[str, Any]) -> dict[int, list[int]]:
    """Missing numbers per season, specials (season 0) left out: they have no expected run."""
    return {s["number"]: gaps for s in detail.get("seasons") or []
            if s["number"] != 0 and (gaps := missing_numbers(s["episodes"]))}


def spans(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def episodes_of(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [ep for season in detail.get("seasons") or [] for ep in season["episodes"]]


def missing_text(detail: dict[str, Any]) -> str:
    gaps = season_gaps(detail)
    if len(gaps) == 1 and 1 in gaps:
        return spans(gaps[1])
    return "; ".join(f"S{n}: {spans(g)}" for n, g in gaps.items())
