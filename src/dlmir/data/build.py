"""Dataset builders: plan items (presets, splits, soundfonts), render them in parallel, resume, write the manifest.

Layout written (see :mod:`dlmir.data.manifest`)::

    OUT/manifest.csv, OUT/build.json, OUT/audio/<id>.flac, OUT/labels/<id>.lab, OUT/labels/<id>.jams,
    OUT/labels/<id>.notes.csv, OUT/.done/<id>.json

Every progression, chorale and band item also gets ``labels/<id>.notes.csv`` (manifest column ``notes``): the
exact notes of its audio (onset, offset in seconds, MIDI pitch, velocity; drums excluded; band items' times
scaled by the production's ``time_scale``), see :mod:`dlmir.data.dataset_notes`. A resume writes them for items
an older build finished; ``dlmir data notes DATASET`` (:func:`dlmir.data.dataset_notes.add_notes`) does it
without building.

Splits are by piece, never by frame. A piece's split is a fixed function of its id
(:func:`split_of`: SHA-1 of the id mapped to [0, 1), < 0.15 test, < 0.25 valid, else train), so it
does not depend on the size of the build or on the seed. Test pieces are rendered with a soundfont
not used for training (default ``fluidr3``), train/valid pieces with the training soundfonts
(default ``timgm6mb`` + ``musescore``; the ``ci`` preset uses ``timgm6mb`` only, because MuseScore
General takes ~16 s to load), chosen per piece by its hash. Instruments are split by soundfont (test:
the held-out soundfont) and, within the training soundfonts, by pitch (``pitch % 6 == 5`` -> valid).

Instrument notes that render silent (a soundfont without a sample for that pitch and velocity), and band
pieces with a silent stem, are skipped: their ``.done`` marker records why and they are left out of the manifest.

Resume: an item is finished when ``.done/<id>.json`` (its manifest row, written last) exists and its
audio/label files exist; all files are written to temporary names and renamed, so an interrupted
build never leaves a file that looks complete. A rebuild renders only unfinished items.

Build parameters: ``OUT/build.json`` records the kind (``chords``/``instruments``), size, seed, training
soundfonts, test soundfont and dlmir version. Resuming into an OUT built with another seed, other soundfonts
(or, for chords, ``ci`` against a sized build: the ``ci`` items are short excerpts) raises
:class:`~dlmir.errors.ParameterError` naming both values, instead of mixing items of two builds; build into
another folder, or pass ``force=True`` (``--force``) to render every item again. Another size is fine: that is
how a build grows.

Band builds (``dlmir data band``, :func:`build_band`, source ``arrangement``): one item per piece, a seeded
:func:`dlmir.data.arrangements.arrange` (drums, bass, comping, lead) rendered stem by stem and produced
(:func:`dlmir.data.arrangements.render_arrangement`, preset ``realistic`` by default). Besides the audio and
``.lab``/``.jams``, each item writes ``labels/<id>.beats`` (``time<TAB>beat-in-bar``, madmom's layout, times
scaled like the labels) and its ``.done`` marker keeps, under ``"render"``, the production record, the
arrangement's drawn parameters and the time scale, so the item can be re-rendered bit for bit
(``render_arrangement(arr, sf, params=marker["render"]["production"])``). Test pieces use the held-out
soundfont, train/valid pieces every other installed registry soundfont
(:func:`dlmir.data.synth.training_soundfonts`).

Rendering runs in ``jobs`` processes; items are grouped by soundfont into fixed chunks, each rendered
by a fresh :class:`~dlmir.data.synth.Renderer` (one soundfont load per chunk), so the audio does not
depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlmir.errors import AudioError, ParameterError

__all__ = [
    "BuildStats",
    "ItemSpec",
    "build_band",
    "build_chords",
    "build_instruments",
    "plan_band",
    "plan_chords",
    "note_velocity",
    "plan_instruments",
    "render_items",
    "split_of",
]

BUILD_FILE = "build.json"

TRAIN_SOUNDFONTS: tuple[str, ...] = ("timgm6mb", "musescore")
TEST_SOUNDFONT = "fluidr3"
VELOCITY_JITTER = 12
"""Instrument builds with a seed other than 0: each note's velocity is drawn within +-this of its dynamic's."""
DEFAULT_CHORD_HOURS = 5.0
_MEAN_PROGRESSION_S = 30.0
_MEAN_CHORALE_S = 45.0
DEFAULT_BAND_HOURS = 1.0
BAND_SHARES: dict[str, float] = {"test": 0.4, "valid": 0.4, "train": 0.2}
"""Share of a sized band build's hours per split: validation and test matter, training streams
(:class:`dlmir.data.render_stream.RenderStream`)."""
_MEAN_BAND_S = 34.5  # mean duration of arrange(seed=...) pieces (measured over 40 seeds: 11-82 s)


@dataclass(frozen=True)
class ItemSpec:
    """One item to render: everything needed to regenerate it exactly.

    Attributes
    ----------
    id : item id (file stem); source : ``progression``, ``chorale``, ``instrument`` or ``arrangement``.
    split : ``train``/``valid``/``test``; soundfont : registry name or path; piece : piece id.
    params : generator arguments (JSON-serialisable).
    """

    id: str
    source: str
    split: str
    soundfont: str
    piece: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class BuildStats:
    """What a build did: ``items`` in the manifest, ``rendered`` this run, seconds of audio, wall time."""

    items: int
    rendered: int
    seconds: float
    wall_time: float
    splits: dict[str, int]
    out: Path
    skipped: int = 0

    @property
    def hours(self) -> float:
        """Hours of audio in the dataset."""
        return self.seconds / 3600.0

    def summary(self) -> str:
        """One line: items, hours, split sizes, wall time."""
        splits = ", ".join(f"{k} {v}" for k, v in sorted(self.splits.items()))
        skipped = f", {self.skipped} skipped (silent in their soundfont)" if self.skipped else ""
        return (
            f"{self.items} items ({self.rendered} rendered now{skipped}), {self.hours:.2f} h of audio, "
            f"splits: {splits}; wall time {self.wall_time:.1f} s -> {self.out}"
        )


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64


def split_of(piece_id: str, *, test: float = 0.15, valid: float = 0.10) -> str:
    """Fixed split of a piece: ``test`` if SHA-1(id) in [0, test), ``valid`` in [test, test+valid), else ``train``."""
    u = _unit(piece_id)
    return "test" if u < test else "valid" if u < test + valid else "train"


def _parse_size(size: str | float, default_hours: float) -> float | None:
    """Hours for a size preset: ``None`` for ``ci``, ``default_hours`` for ``default``, N for ``"Nh"``."""
    if isinstance(size, int | float):
        hours = float(size)
    elif size == "ci":
        return None
    elif size == "default":
        hours = default_hours
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(h|hours?)?\s*", str(size))
        if not m:
            raise ParameterError(f"size must be 'ci', 'default' or hours like '0.5h', got {size!r}")
        hours = float(m.group(1))
    if hours <= 0:
        raise ParameterError(f"size must be positive hours, got {size!r}")
    return hours


def _train_soundfont(item_id: str, soundfonts: tuple[str, ...]) -> str:
    return soundfonts[int(_unit("sf:" + item_id) * len(soundfonts))]


def _train_soundfonts(soundfonts: tuple[str, ...] | list[str] | None, ci: bool) -> tuple[str, ...]:
    """The training soundfonts: as given, else ``timgm6mb`` for ``ci`` and :data:`TRAIN_SOUNDFONTS` otherwise."""
    return tuple(soundfonts) if soundfonts else (("timgm6mb",) if ci else TRAIN_SOUNDFONTS)


def _check_soundfonts(train: tuple[str, ...], test: str) -> None:
    from dlmir.data.synth import resolve_soundfont

    names = {resolve_soundfont(s)[1] for s in train}
    if resolve_soundfont(test)[1] in names:
        raise ParameterError(f"the test soundfont {test!r} is also a training soundfont; hold it out")


def plan_chords(
    size: str | float = "default",
    *,
    seed: int = 0,
    soundfonts: tuple[str, ...] | list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
) -> list[ItemSpec]:
    """Items of a chord dataset (progressions + chorales).

    Parameters
    ----------
    size : ``ci`` (5 short progressions + 3 chorale excerpts, train/valid/test all present),
        ``default`` (:data:`DEFAULT_CHORD_HOURS` hours) or hours (``"0.5h"`` or a float): half
        progressions (~30 s each), half chorales (~45 s each, at most the 371 of the corpus).
    seed : seed of the musical content (progressions, tempi, ensembles); splits do not depend on it.
    soundfonts : training soundfonts (default ``timgm6mb`` + ``musescore``; ``ci``: ``timgm6mb``).
    test_soundfont : held-out soundfont of the test split.

    A progression's split is :func:`split_of` its id; a chorale's is :func:`split_of` its hymn-tune family
    (:func:`dlmir.data.chorales.chorale_tune`, also its ``piece``), so every setting of one tune falls in
    the same split.
    """
    from dlmir.data.chorales import chorale_tune

    hours = _parse_size(size, DEFAULT_CHORD_HOURS)
    train_sfs = _train_soundfonts(soundfonts, hours is None)
    _check_soundfonts(train_sfs, test_soundfont)
    specs: list[ItemSpec] = []

    def add(item_id: str, source: str, params: dict[str, Any], piece: str | None = None) -> None:
        piece = piece or item_id
        split = split_of(piece)
        sf = test_soundfont if split == "test" else _train_soundfont(item_id, train_sfs)
        specs.append(ItemSpec(item_id, source, split, sf, piece, params))

    if hours is None:
        quota = {"train": 3, "valid": 1, "test": 1}
        k = 0
        while any(quota.values()):
            piece = f"prog-{k:05d}"
            if quota[split_of(piece)] > 0:
                quota[split_of(piece)] -= 1
                add(piece, "progression", {"seed": [seed, k], "target_duration": 8.0})
            k += 1
        quota = {"train": 2, "valid": 0, "test": 1}
        for number in _chorale_order():
            tune = chorale_tune(number)
            if quota[split_of(tune)] > 0:
                quota[split_of(tune)] -= 1
                add(
                    f"chorale-{number:03d}",
                    "chorale",
                    {"number": number, "seed": [seed, number], "max_beats": 16},
                    tune,
                )
            if not any(quota.values()):
                break
        return specs
    n_prog = max(1, round(hours * 3600 * 0.5 / _MEAN_PROGRESSION_S))
    n_chor = min(371, max(1, round(hours * 3600 * 0.5 / _MEAN_CHORALE_S)))
    for k in range(n_prog):
        add(f"prog-{k:05d}", "progression", {"seed": [seed, k]})
    for number in _chorale_order()[:n_chor]:
        add(f"chorale-{number:03d}", "chorale", {"number": number, "seed": [seed, number]}, chorale_tune(number))
    return specs


def _chorale_order() -> list[int]:
    """Riemenschneider numbers 1..371 in a fixed pseudo-random order (so partial builds spread over the corpus)."""
    return sorted(range(1, 372), key=lambda n: _unit(f"chorale-{n:03d}:order"))


def _seed_int(key: str) -> int:
    """A 31-bit seed as a fixed function of ``key``."""
    return int(_unit(key) * 2**31)


def plan_band(
    size: str | float = "default",
    *,
    seed: int = 0,
    soundfonts: tuple[str, ...] | list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
    production: str = "realistic",
) -> list[ItemSpec]:
    """Items of a band dataset: one seeded arrangement per piece (``band-00000``, ...), rendered and produced.

    Parameters
    ----------
    size : ``ci`` (6 pieces of 4 chords x 4 beats at 110 BPM, ~10 s; 2 per split), ``default``
        (:data:`DEFAULT_BAND_HOURS` hours) or hours (``"0.5h"`` or a float), shared between splits as
        :data:`BAND_SHARES` (test 40 %, valid 40 %, train 20 %; pieces of ~35 s on average). A larger size
        keeps every piece of a smaller one.
    seed : seed of the musical content and of the production (piece ``k`` arranges with seed ``[seed, k]``).
    soundfonts : training soundfonts (default: every installed registry soundfont but the held-out one,
        :func:`dlmir.data.synth.training_soundfonts`; ``ci``: ``timgm6mb``).
    test_soundfont : held-out soundfont of the test split.
    production : ``realistic``, ``clean`` or ``heavy`` (:data:`dlmir.data.production.PRESETS`).

    A piece's split is :func:`split_of` its id; pieces are taken in id order until each split's quota is met.
    """
    from dlmir.data.production import PRESET_NAMES

    if production not in PRESET_NAMES:
        raise ParameterError(f"production must be one of {', '.join(PRESET_NAMES)}, got {production!r}")
    hours = _parse_size(size, DEFAULT_BAND_HOURS)
    train_sfs = _band_soundfonts(soundfonts, hours is None, test_soundfont)
    _check_soundfonts(train_sfs, test_soundfont)
    if hours is None:
        quota = {"train": 2, "valid": 2, "test": 2}
    else:
        quota = {k: max(1, round(hours * 3600.0 * share / _MEAN_BAND_S)) for k, share in BAND_SHARES.items()}
    specs: list[ItemSpec] = []
    k = 0
    while any(quota.values()):
        piece = f"band-{k:05d}"
        split = split_of(piece)
        if quota[split] > 0:
            quota[split] -= 1
            sf = test_soundfont if split == "test" else _train_soundfont(piece, train_sfs)
            params: dict[str, Any] = {
                "seed": [int(seed), k],
                "production": production,
                "production_seed": _seed_int(f"production:{int(seed)}:{piece}"),
            }
            if hours is None:
                params.update(beats=[4, 4, 4, 4], tempo=110.0)
            specs.append(ItemSpec(piece, "arrangement", split, sf, piece, params))
        k += 1
    return specs


def _band_soundfonts(soundfonts: tuple[str, ...] | list[str] | None, ci: bool, test: str) -> tuple[str, ...]:
    """Training soundfonts of a band build: as given, else ``timgm6mb`` for ``ci``, else every installed other."""
    from dlmir.data.synth import training_soundfonts

    if soundfonts:
        return tuple(soundfonts)
    if ci:
        return ("timgm6mb",)
    found = tuple(training_soundfonts(test))
    if not found:
        raise ParameterError(f"no training soundfont installed besides {test!r}; install timgm6mb-soundfont")
    return found


def note_velocity(dynamic: str, item_id: str, seed: int = 0) -> int:
    """MIDI velocity (1..127) of an instrument item: its dynamic's nominal velocity for ``seed=0``, else drawn.

    Seed 0 renders :data:`~dlmir.data.instruments.DYNAMICS` exactly (pp 32, mf 80, ff 120). Any other seed
    draws the velocity uniformly within +-:data:`VELOCITY_JITTER` of the nominal one, as a fixed function of
    ``(seed, item_id)`` (so the dynamics never overlap, and a resumed build draws the same velocities).
    """
    from dlmir.data.instruments import DYNAMICS

    nominal = DYNAMICS[dynamic]
    if seed == 0:
        return nominal
    offset = round((2.0 * _unit(f"velocity:{int(seed)}:{item_id}") - 1.0) * VELOCITY_JITTER)
    return min(127, max(1, nominal + offset))


def plan_instruments(
    size: str = "default",
    *,
    seed: int = 0,
    soundfonts: tuple[str, ...] | list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
) -> list[ItemSpec]:
    """Items of the isolated-note dataset.

    ``ci``: per instrument, its middle pitch at mf in ``timgm6mb`` (train) and in the test soundfont,
    plus the nearest pitch with ``pitch % 6 == 5`` (valid). ``default``: every pitch of every range, 3
    dynamics, every soundfont (about 5,700 notes, 2 s each, ~3.2 h).

    ``seed`` humanises the dynamics (:func:`note_velocity`): 0 renders every note at its dynamic's nominal
    velocity; another seed draws each note's velocity around it, so the same notes are rendered at other
    velocities (soundfonts change level and often sample layer with velocity). Ids and splits do not depend on it.
    """
    from dlmir.data.instruments import DYNAMICS, INSTRUMENTS

    if size not in ("ci", "default"):
        raise ParameterError(f"instrument dataset size must be 'ci' or 'default', got {size!r}")
    train_sfs = _train_soundfonts(soundfonts, size == "ci")
    _check_soundfonts(train_sfs, test_soundfont)
    specs = []

    def add(sf: str, name: str, pitch: int, dyn: str, split: str) -> None:
        stem = Path(sf).stem if os.sep in sf else sf
        item_id = f"{name}-{pitch:03d}-{dyn}-{stem}"
        params = {"instrument": name, "pitch": pitch, "dynamic": dyn, "velocity": note_velocity(dyn, item_id, seed)}
        specs.append(ItemSpec(item_id, "instrument", split, sf, item_id, params))

    for name, inst in INSTRUMENTS.items():
        if size == "ci":
            mid = (inst.low + inst.high) // 2
            valid_pitch = mid + (5 - mid) % 6
            if valid_pitch > inst.high:
                valid_pitch -= 6
            add(train_sfs[0], name, mid if mid % 6 != 5 else mid - 1, "mf", "train")
            add(train_sfs[0], name, valid_pitch, "mf", "valid")
            add(test_soundfont, name, mid, "mf", "test")
            continue
        for pitch in range(inst.low, inst.high + 1):
            for dyn in DYNAMICS:
                for sf in train_sfs:
                    add(sf, name, pitch, dyn, "valid" if pitch % 6 == 5 else "train")
                add(test_soundfont, name, pitch, dyn, "test")
    return specs


# ---------------------------------------------------------------- rendering


def _paths(out: Path, spec: ItemSpec) -> dict[str, Path]:
    paths = {"audio": out / "audio" / f"{spec.id}.flac", "done": out / ".done" / f"{spec.id}.json"}
    if spec.source != "instrument":
        paths["lab"] = out / "labels" / f"{spec.id}.lab"
        paths["jams"] = out / "labels" / f"{spec.id}.jams"
    if spec.source == "arrangement":
        paths["beats"] = out / "labels" / f"{spec.id}.beats"
    return paths


def _is_done(out: Path, spec: ItemSpec) -> bool:
    paths = _paths(out, spec)
    if paths["done"].is_file() and spec.source in ("instrument", "arrangement") and not paths["audio"].exists():
        return "skipped" in json.loads(paths["done"].read_text(encoding="utf-8"))  # notes the soundfont lacks
    return all(p.is_file() for p in paths.values())


def _write_marker(path: Path, row: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(row), encoding="utf-8")
    os.replace(tmp, path)


def _make_piece(spec: ItemSpec):  # noqa: ANN202 - Piece
    p = spec.params
    if spec.source == "progression":
        from dlmir.data.progressions import generate_progression

        return generate_progression(p["seed"], target_duration=p.get("target_duration"))
    if spec.source == "chorale":
        from dlmir.data.chorales import generate_chorale

        return generate_chorale(p["number"], p["seed"], max_beats=p.get("max_beats"))
    if spec.source == "instrument":
        from dlmir.data.instruments import generate_note

        return generate_note(p["instrument"], p["pitch"], p["dynamic"], velocity=p.get("velocity"))
    if spec.source == "arrangement":
        from dlmir.data.arrangements import arrange

        return arrange(seed=p["seed"], durations_or_intervals=p.get("beats"), tempo=p.get("tempo"))
    raise ParameterError(f"unknown item source {spec.source!r}")


def render_chunk(out: str | os.PathLike[str], specs: list[ItemSpec], *, sr: int = 22050) -> list[dict[str, str]]:
    """Render ``specs`` with one fresh renderer into ``out``; returns their manifest rows (as written to ``.done``)."""
    from dlmir.annotations import write_jams, write_lab
    from dlmir.data.dataset_notes import write_item_notes
    from dlmir.data.notes import notes_from_midi
    from dlmir.data.synth import Renderer, resolve_soundfont
    from dlmir.io import save

    out = Path(out)
    rows = []
    with Renderer(sr=sr) as renderer:
        for spec in specs:
            if spec.source == "arrangement":
                rows.append(_render_arrangement_item(out, spec, renderer, sr))
                continue
            piece = _make_piece(spec)
            paths = _paths(out, spec)
            for p in paths.values():
                p.parent.mkdir(parents=True, exist_ok=True)
            try:
                y = renderer.render(piece.midi, spec.soundfont, duration=piece.duration)
            except AudioError as exc:
                if spec.source != "instrument":
                    raise
                # e.g. FluidR3 GM's contrabass has no sample above MIDI 57 at pp: skip the note, remember why
                _write_marker(paths["done"], {"id": spec.id, "skipped": str(exc)})
                rows.append({"id": spec.id, "skipped": str(exc)})
                continue
            save(paths["audio"], y, sr)
            row: dict[str, str] = {
                "id": spec.id,
                "source": spec.source,
                "split": spec.split,
                "soundfont": resolve_soundfont(spec.soundfont)[1].stem,
                "programs": "+".join(str(int(p)) for p in piece.programs),
                "duration": f"{len(y) / sr:.3f}",
                "audio": f"audio/{spec.id}.flac",
                "lab": "",
                "jams": "",
                "piece": spec.piece,
            }
            if spec.source == "instrument":
                row.update(
                    instrument=spec.params["instrument"],
                    pitch=str(spec.params["pitch"]),
                    dynamic=spec.params["dynamic"],
                    velocity=str(piece.midi.instruments[0].notes[0].velocity),
                )
            else:
                write_lab(paths["lab"], piece.intervals, piece.labels)
                write_jams(paths["jams"], piece.intervals, piece.labels, duration=piece.duration, title=spec.id)
                row.update(lab=f"labels/{spec.id}.lab", jams=f"labels/{spec.id}.jams")
                notes = notes_from_midi(piece.midi)
                row["notes"] = write_item_notes(out, spec.id, notes.clipped(0.0, len(y) / sr) if len(notes) else notes)
            _write_marker(paths["done"], row)
            rows.append(row)
    return rows


def write_beats(path: str | os.PathLike[str], beats: Any) -> None:
    """Write ``(n, 2)`` beats (seconds, position in bar) as ``time<TAB>beat`` lines (madmom's beat annotations)."""
    path = Path(path)
    text = "".join(f"{float(t):.3f}\t{int(b)}\n" for t, b in beats)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _render_arrangement_item(out: Path, spec: ItemSpec, renderer: Any, sr: int) -> dict[str, Any]:
    """Render one band item (audio, lab, jams, beats) with ``renderer``; returns its marker (row + ``render``)."""
    from dlmir.annotations import write_jams, write_lab
    from dlmir.data.arrangements import render_arrangement
    from dlmir.data.dataset_notes import arrangement_notes, write_item_notes
    from dlmir.data.synth import resolve_soundfont
    from dlmir.io import save

    arr = _make_piece(spec)
    paths = _paths(out, spec)
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    p = spec.params
    try:
        y, intervals, labels, beats, info = render_arrangement(
            arr, spec.soundfont, sr=sr, production=p["production"], seed=p["production_seed"], renderer=renderer
        )
    except AudioError as exc:  # e.g. FluidR3 GM's baritone sax has no sample above MIDI 72: a silent lead stem
        marker = {"id": spec.id, "skipped": str(exc)}
        _write_marker(paths["done"], marker)
        return marker
    duration = len(y) / sr
    save(paths["audio"], y, sr)
    write_lab(paths["lab"], intervals, labels)
    write_jams(paths["jams"], intervals, labels, duration=duration, title=spec.id)
    write_beats(paths["beats"], beats)
    notes_rel = write_item_notes(out, spec.id, arrangement_notes(arr, info["time_scale"], duration))
    marker: dict[str, Any] = {
        "id": spec.id,
        "source": spec.source,
        "split": spec.split,
        "soundfont": resolve_soundfont(spec.soundfont)[1].stem,
        "programs": "+".join(str(int(g)) for g in arr.programs),
        "duration": f"{duration:.3f}",
        "audio": f"audio/{spec.id}.flac",
        "lab": f"labels/{spec.id}.lab",
        "jams": f"labels/{spec.id}.jams",
        "piece": spec.piece,
        "beats": f"labels/{spec.id}.beats",
        "production": p["production"],
        "notes": notes_rel,
        "render": {
            "production": info["production"],
            "production_seed": p["production_seed"],
            "time_scale": info["time_scale"],
            "arrangement": info["arrangement"],
            "arrange": {k: p[k] for k in ("seed", "beats", "tempo") if k in p},
            "soundfont": info["soundfont"],
            "sr": int(sr),
        },
    }
    _write_marker(paths["done"], marker)
    return marker


def _chunks(specs: list[ItemSpec], chunk_size: int) -> list[list[ItemSpec]]:
    by_sf: dict[str, list[ItemSpec]] = {}
    for s in specs:
        by_sf.setdefault(s.soundfont, []).append(s)
    chunks = []
    for sf, items in by_sf.items():
        n = chunk_size * 4 if "musescore" in sf.lower() else chunk_size  # slow load: bigger chunks
        chunks += [items[i : i + n] for i in range(0, len(items), n)]
    return chunks


def render_items(
    out: str | os.PathLike[str],
    specs: list[ItemSpec],
    *,
    jobs: int | None = None,
    chunk_size: int = 16,
    progress: bool = True,
    force: bool = False,
) -> BuildStats:
    """Render the unfinished items of ``specs`` into ``out`` and write ``out/manifest.csv`` (all of ``specs``).

    Parameters
    ----------
    jobs : worker processes (default: all cores; 1 renders in this process).
    chunk_size : items per renderer (per soundfont load); MuseScore chunks are 4x larger.
    progress : show a tqdm progress bar.
    force : render every item of ``specs`` again, finished or not (their files are replaced).
    """
    from tqdm.auto import tqdm

    from dlmir.data.manifest import write_manifest

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ParameterError("item ids of a build must be unique")
    todo = list(specs) if force else [s for s in specs if not _is_done(out, s)]
    jobs = max(1, os.cpu_count() or 1) if jobs is None else max(1, int(jobs))
    chunks = _chunks(todo, chunk_size)
    bar = tqdm(total=len(todo), desc=f"rendering {out.name}", unit="item", disable=not progress or not todo)
    if jobs == 1 or len(chunks) <= 1:
        for chunk in chunks:
            render_chunk(out, chunk)
            bar.update(len(chunk))
    else:
        import multiprocessing

        # forkserver: workers fork from a clean single-threaded server that imported the heavy modules once
        # (plain fork can deadlock when the parent holds thread locks, e.g. torch's or pytest's)
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            preload = ["dlmir.data.build", "dlmir.annotations", "dlmir.io", "dlmir.data.synth", "pretty_midi"]
            if any(s.source == "chorale" for s in todo):
                preload.append("music21.corpus")
            if any(s.source == "arrangement" for s in todo):
                preload += ["dlmir.data.arrangements", "dlmir.data.production"]
            ctx.set_forkserver_preload(preload)
        with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=ctx) as pool:
            futures = {pool.submit(render_chunk, out, chunk): len(chunk) for chunk in chunks}
            for fut in as_completed(futures):
                fut.result()
                bar.update(futures[fut])
    bar.close()
    markers = [json.loads(_paths(out, s)["done"].read_text(encoding="utf-8")) for s in specs]
    _add_missing_notes(out, specs, markers)
    # a band item's marker also holds its render record (JSON): not a manifest column
    rows = [{k: v for k, v in m.items() if k != "render"} for m in markers if "skipped" not in m]
    write_manifest(out, rows)
    splits: dict[str, int] = {}
    for r in rows:
        splits[r["split"]] = splits.get(r["split"], 0) + 1
    return BuildStats(
        items=len(rows),
        rendered=len(todo),
        seconds=math.fsum(float(r["duration"]) for r in rows),
        wall_time=time.perf_counter() - t0,
        splits=splits,
        out=out,
        skipped=len(markers) - len(rows),
    )


def _add_missing_notes(out: Path, specs: list[ItemSpec], markers: list[dict[str, Any]]) -> None:
    """Items finished by a build that predates notes files: write ``labels/<id>.notes.csv`` from their spec (and
    render record) and record it in their marker (:mod:`dlmir.data.dataset_notes`); nothing is rendered."""
    from dlmir.data.dataset_notes import NOTE_SOURCES, item_notes, write_item_notes

    for spec, marker in zip(specs, markers, strict=True):
        if "skipped" in marker or "notes" in marker or spec.source not in NOTE_SOURCES:
            continue
        if spec.source == "arrangement" and "render" not in marker:
            continue  # no time_scale recorded: `dlmir data notes` says why
        notes = item_notes(spec, duration=float(marker["duration"]), render=marker.get("render"))
        marker["notes"] = write_item_notes(out, spec.id, notes)
        _write_marker(_paths(out, spec)["done"], marker)


def _build_params(kind: str, size: str | float, seed: int, train: tuple[str, ...], test: str) -> dict[str, Any]:
    from dlmir import __version__
    from dlmir.data.synth import resolve_soundfont

    return {
        "kind": kind,
        "size": size if isinstance(size, str) else float(size),
        "seed": int(seed),
        "soundfonts": [resolve_soundfont(s)[0] for s in train],
        "test_soundfont": resolve_soundfont(test)[0],
        "dlmir": __version__,
    }


def _describe(params: dict[str, Any], key: str) -> str:
    if key == "soundfonts":
        return " ".join(f"--soundfont {s}" for s in params.get(key) or []) or "no --soundfont"
    if key == "test_soundfont":
        return f"--test-soundfont {params.get(key)}"
    return f"--{key} {params.get(key)}"


def _check_build(out: Path, params: dict[str, Any], *, force: bool) -> None:
    """Refuse to resume ``out`` with other build parameters (unless ``force``); then record ``params`` there."""
    path = out / BUILD_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise ParameterError(
                f"{path} is not valid JSON; delete it (or build into another folder) to start afresh"
            ) from None
        if old.get("kind") != params["kind"]:
            raise ParameterError(
                f"{out} holds a {old.get('kind')} dataset; build the {params['kind']} dataset into another folder"
            )
        keys = ["seed", "soundfonts", "test_soundfont"] + (["production"] if "production" in params else [])
        differ = [k for k in keys if old.get(k) != params[k]]
        if params["kind"] in ("chords", "band") and (old.get("size") == "ci") != (params["size"] == "ci"):
            differ.append("size")  # ci items are short excerpts under the same ids as full pieces
        if differ and not force:
            raise ParameterError(
                f"{out} was built with {', '.join(_describe(old, k) for k in differ)}; this build asks for "
                f"{', '.join(_describe(params, k) for k in differ)}. Resuming would mix items of both builds: "
                "build into another folder, or pass --force (force=True) to render every item again"
            )
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{BUILD_FILE}.part")
    tmp.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def build_chords(
    out: str | os.PathLike[str],
    *,
    size: str | float = "default",
    seed: int = 0,
    soundfonts: list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
    jobs: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> BuildStats:
    """Build (or resume) a chord dataset of progressions and Bach chorales in ``out``; see :func:`plan_chords`.

    A resume must use the seed and soundfonts ``out`` was built with (recorded in ``out/build.json``), else
    :class:`~dlmir.errors.ParameterError`; ``force=True`` renders every item again with the new ones.
    """
    specs = plan_chords(size, seed=seed, soundfonts=soundfonts, test_soundfont=test_soundfont)
    train = _train_soundfonts(soundfonts, _parse_size(size, DEFAULT_CHORD_HOURS) is None)
    _check_build(Path(out), _build_params("chords", size, seed, train, test_soundfont), force=force)
    return render_items(out, specs, jobs=jobs, progress=progress, force=force)


def build_instruments(
    out: str | os.PathLike[str],
    *,
    size: str = "default",
    seed: int = 0,
    soundfonts: list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
    jobs: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> BuildStats:
    """Build (or resume) the isolated-note instrument dataset in ``out``; see :func:`plan_instruments`.

    A resume must use the seed and soundfonts ``out`` was built with (recorded in ``out/build.json``), else
    :class:`~dlmir.errors.ParameterError`; ``force=True`` renders every item again with the new ones.
    """
    specs = plan_instruments(size, seed=seed, soundfonts=soundfonts, test_soundfont=test_soundfont)
    train = _train_soundfonts(soundfonts, size == "ci")
    _check_build(Path(out), _build_params("instruments", size, seed, train, test_soundfont), force=force)
    return render_items(out, specs, jobs=jobs, chunk_size=64, progress=progress, force=force)


def build_band(
    out: str | os.PathLike[str],
    *,
    size: str | float = "default",
    seed: int = 0,
    soundfonts: list[str] | None = None,
    test_soundfont: str = TEST_SOUNDFONT,
    production: str = "realistic",
    jobs: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> BuildStats:
    """Build (or resume) a band dataset (drums, bass, comping, lead; produced) in ``out``; see :func:`plan_band`.

    A resume must use the seed, soundfonts and production preset ``out`` was built with (``out/build.json``),
    else :class:`~dlmir.errors.ParameterError`; ``force=True`` renders every item again with the new ones.
    """
    specs = plan_band(size, seed=seed, soundfonts=soundfonts, test_soundfont=test_soundfont, production=production)
    train = _band_soundfonts(soundfonts, _parse_size(size, DEFAULT_BAND_HOURS) is None, test_soundfont)
    params = _build_params("band", size, seed, train, test_soundfont)
    params["production"] = production
    _check_build(Path(out), params, force=force)
    return render_items(out, specs, jobs=jobs, chunk_size=8, progress=progress, force=force)
