"""Write ``src/dlmir/assets/chorale_tunes.json``: the tune family of each of the 371 Bach chorales.

Bach harmonised many hymn tunes several times (the Passion chorale alone appears under three titles), so
splitting chorales by number can put two settings of one tune on both sides of a train/test split. Two
chorales are grouped (union-find, transitively) when either

- their hymn titles are equal after normalisation (music21's ``ChoraleListRKBWV`` titles), or
- their soprano melodies start with the same 8 intervals (semitones, repeated notes merged), which
  finds one tune sung to different texts (e.g. "O Haupt voll Blut und Wunden" = "Herzlich tut mich
  verlangen" = "Befiehl du deine Wege").

Each group is named ``tune-NNN`` after its lowest Riemenschneider number. Run:
``.venv/bin/python scripts/chorale_tunes.py`` (about 2 minutes: it parses every chorale).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from music21 import corpus
from music21.corpus.chorales import ChoraleListRKBWV

from dlmir.data.chorales import chorale_ids

INTERVALS = 8
OUT = Path(__file__).resolve().parents[1] / "src" / "dlmir" / "assets" / "chorale_tunes.json"


def _title_key(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z ]", "", ascii_title).split())


def _melody_key(path: str) -> tuple[int, ...]:
    soprano = corpus.parse(path).parts[0]
    pitches = [n.pitch.midi for n in soprano.flatten().notes if n.isNote]
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    return tuple(b - a for a, b in zip(merged, merged[1:], strict=False))[:INTERVALS]


def main() -> None:
    titles = ChoraleListRKBWV().byRiemenschneider
    ids = chorale_ids()
    parent = {n: n for n in range(1, len(ids) + 1)}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys: dict[object, list[int]] = {}
    for n, path in enumerate(ids, 1):
        keys.setdefault(("title", _title_key(titles[n]["title"])), []).append(n)
        keys.setdefault(("melody", _melody_key(path)), []).append(n)
    for members in keys.values():
        for m in members[1:]:
            a, b = find(members[0]), find(m)
            if a != b:
                parent[max(a, b)] = min(a, b)
    tunes = {str(n): f"tune-{find(n):03d}" for n in parent}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(tunes, indent=0, sort_keys=False) + "\n")
    print(f"{len(set(tunes.values()))} tune families for {len(tunes)} chorales -> {OUT}")


if __name__ == "__main__":
    main()
