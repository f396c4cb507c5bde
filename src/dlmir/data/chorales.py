"""Bach chorales from music21's bundled corpus (371, Riemenschneider numbering) as labelled MIDI.

Notes are read from the score once and used both for the MIDI (built with ``pretty_midi``, each part
on its own GM program) and for the labels, so their timing is identical by construction. Fermatas
are ignored (no held notes): the score plays at one tempo, drawn from the seed (60-96 BPM per quarter).

Labelling rule (:func:`chorale_labels`), per quarter-note beat ``[k, k+1)`` counted from the first
note of the score:

1. The score is chordified (``score.chordify()``): a sequence of slices, each with the set of pitches
   sounding across all parts.
2. Each slice is *reduced* alone: its pitch-class set must equal a vocabulary chord's pitch-class set
   (:data:`dlmir.chords.QUALITIES`), or, for slices of 3+ pitch classes, a 4-note chord's set without
   its perfect fifth. When several chords match (``C:maj6`` = ``A:min7``, symmetric ``dim7``/``aug``,
   ``sus2``/``sus4``) the one whose root is the slice's lowest note wins, else the first in vocabulary
   order. Other slices (passing tones, suspensions, unisons, dyads) are unreducible.
3. The beat's label is the reducible chord that sounds the longest within the beat (summing its
   slices' durations inside the beat); ties go to the earliest. So a passing tone or suspension that
   makes a slice unreducible never labels a beat, and a beat split between two chords takes the one
   held longer (the first when equal).
4. A beat with no reducible slice takes the previous beat's label; beats before the first reducible
   beat take the first reducible beat's label (``X`` only if no beat of the score is reducible).
5. Equal consecutive labels are merged; beats become seconds at the chosen tempo; the release after
   the last note is labelled ``N``.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

from dlmir.chords import QUALITIES, UNKNOWN, chord_label
from dlmir.data.synth import Piece
from dlmir.errors import DependencyError, ParameterError

__all__ = [
    "CHORALE_PROGRAMS",
    "chorale_ids",
    "chorale_labels",
    "chorale_tune",
    "generate_chorale",
    "load_chorale",
    "reduce_slice",
]

CHORALE_PROGRAMS: tuple[tuple[int, int, int, int], ...] = (
    (73, 71, 70, 42),  # flute, clarinet, bassoon, cello (woodwind quartet with cello)
    (40, 41, 42, 43),  # string quartet + contrabass
    (19, 19, 19, 19),  # church organ
    (52, 52, 52, 52),  # choir aahs
    (56, 60, 57, 58),  # trumpet, horn, trombone, tuba
    (0, 0, 0, 0),  # piano
    (68, 71, 69, 70),  # oboe, clarinet, English horn, bassoon
    (48, 48, 48, 48),  # string ensemble
)
"""GM programs (soprano, alto, tenor, bass) per ensemble; the seed picks one, parts beyond four reuse the last."""


def _corpus():  # noqa: ANN202 - module
    try:
        from music21 import corpus
    except ImportError as exc:  # pragma: no cover - music21 is a dependency
        raise DependencyError(f"chorales need music21 (`pip install music21`): {exc}") from None
    return corpus


@lru_cache(maxsize=1)
def chorale_ids() -> tuple[str, ...]:
    """Corpus paths of the 371 chorales in Riemenschneider order (index 0 = chorale 1)."""
    corpus = _corpus()
    return tuple(str(p) for p in corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename"))


@lru_cache(maxsize=1)
def _tunes() -> dict[int, str]:
    import json
    from importlib import resources

    text = (resources.files("dlmir") / "assets" / "chorale_tunes.json").read_text(encoding="utf-8")
    return {int(k): v for k, v in json.loads(text).items()}


def chorale_tune(number: int) -> str:
    """The hymn-tune family of chorale ``number`` (Riemenschneider, 1-371): ``"tune-NNN"``.

    Chorales that set the same tune (same title, or the same opening 8 soprano intervals; see
    ``scripts/chorale_tunes.py``, which wrote the table in ``dlmir/assets/chorale_tunes.json``) share
    one family, named after its lowest number: 195 families for 371 chorales. Dataset splits group
    chorales by family, so no tune is heard in two splits.
    """
    tunes = _tunes()
    if number not in tunes:
        raise ParameterError(f"chorale number must be in 1..{len(tunes)}, got {number}")
    return tunes[number]


def load_chorale(number_or_path: int | str):  # noqa: ANN201 - music21 Score
    """Parse a chorale: Riemenschneider number (1-371) or a corpus path (``"bach/bwv66.6"``)."""
    corpus = _corpus()
    if isinstance(number_or_path, int):
        ids = chorale_ids()
        if not 1 <= number_or_path <= len(ids):
            raise ParameterError(f"chorale number must be in 1..{len(ids)}, got {number_or_path}")
        number_or_path = ids[number_or_path - 1]
    return corpus.parse(number_or_path)


@lru_cache(maxsize=1)
def _pcset_table() -> dict[frozenset[int], list[tuple[int, str]]]:
    table: dict[frozenset[int], list[tuple[int, str]]] = defaultdict(list)
    for root in range(12):
        for quality, intervals in QUALITIES.items():
            pcs = frozenset((root + i) % 12 for i in intervals)
            table[pcs].append((root, quality))
    for root in range(12):  # 4-note chords without their perfect fifth (added after exact matches)
        for quality, intervals in QUALITIES.items():
            if len(intervals) == 4 and 7 in intervals:
                pcs = frozenset((root + i) % 12 for i in intervals if i != 7)
                table[pcs].append((root, quality))
    return dict(table)


def reduce_slice(midi_pitches: list[int]) -> str | None:
    """Vocabulary label of one chordified slice (MIDI pitches), or ``None`` if unreducible (rule 2)."""
    if not midi_pitches:
        return None
    pcs = frozenset(p % 12 for p in midi_pitches)
    if len(pcs) < 3:
        return None
    matches = _pcset_table().get(pcs)
    if not matches:
        return None
    bass = min(midi_pitches) % 12
    for root, quality in matches:
        if root == bass:
            return chord_label(root, quality)
    root, quality = matches[0]
    return chord_label(root, quality)


def _notes(score) -> list[list[tuple[float, float, int]]]:  # noqa: ANN001
    """Per part: (start, end, MIDI pitch) in quarter notes from the first note, ties merged."""
    parts = []
    for part in score.parts:
        notes = []
        for n in part.stripTies().flatten().notes:
            for p in n.pitches:
                notes.append((float(n.offset), float(n.offset + n.quarterLength), int(p.midi)))
        parts.append(notes)
    t0 = min((n[0] for notes in parts for n in notes), default=0.0)
    return [[(s - t0, e - t0, p) for s, e, p in notes] for notes in parts]


def chorale_labels(score, *, max_beats: int | None = None) -> tuple[np.ndarray, list[str]]:  # noqa: ANN001
    """Beat labels of a chorale score (rules in the module docstring), in quarter notes.

    Returns
    -------
    intervals : float64 ``(n, 2)`` in quarter notes from the first note (merged, contiguous).
    labels : ``n`` labels of the full vocabulary (all ``X`` only when no beat is reducible).
    """
    parts = _notes(score)
    edges = sorted({t for notes in parts for s, e, _ in notes for t in (s, e)})
    end = edges[-1] if edges else 0.0
    n_beats = int(np.ceil(end - 1e-9))
    if max_beats is not None:
        n_beats = min(n_beats, max_beats)
    beat_scores: list[dict[str, float]] = [defaultdict(float) for _ in range(n_beats)]
    first_time: list[dict[str, float]] = [{} for _ in range(n_beats)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sounding = [p for notes in parts for s, e, p in notes if s <= a < e]
        label = reduce_slice(sounding)
        if label is None:
            continue
        k = int(np.floor(a + 1e-9))
        while k < n_beats and k < b - 1e-9:
            overlap = min(b, k + 1) - max(a, k)
            if overlap > 1e-9:
                beat_scores[k][label] += overlap
                first_time[k].setdefault(label, max(a, k))
            k += 1
    labels: list[str] = []
    for k in range(n_beats):
        if beat_scores[k]:
            best = max(beat_scores[k].items(), key=lambda kv: (kv[1], -first_time[k][kv[0]]))[0]
        else:
            best = labels[-1] if labels else UNKNOWN
        labels.append(best)
    first = next((lab for lab in labels if lab != UNKNOWN), UNKNOWN)
    labels = [first if lab == UNKNOWN else lab for lab in labels]
    intervals: list[list[float]] = []
    merged: list[str] = []
    for k, lab in enumerate(labels):
        if merged and merged[-1] == lab:
            intervals[-1][1] = k + 1.0
        else:
            merged.append(lab)
            intervals.append([float(k), k + 1.0])
    return np.array(intervals, dtype=np.float64).reshape(-1, 2), merged


def generate_chorale(
    number_or_path: int | str, seed: int | list[int], *, max_beats: int | None = None, tail: float = 1.0
) -> Piece:
    """A chorale as a labelled :class:`~dlmir.data.synth.Piece` (tempo and ensemble drawn from ``seed``).

    Parameters
    ----------
    number_or_path : Riemenschneider number (1-371) or corpus path.
    seed : seed for tempo (60-96 quarter notes per minute), ensemble (:data:`CHORALE_PROGRAMS`) and
        velocities.
    max_beats : keep only the first ``max_beats`` quarter notes (excerpts for quick builds).
    tail : seconds of release after the last note, labelled ``N``.
    """
    import pretty_midi

    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(60, 96))
    spq = 60.0 / bpm
    ensemble = CHORALE_PROGRAMS[int(rng.integers(len(CHORALE_PROGRAMS)))]
    score = load_chorale(number_or_path)
    q_intervals, labels = chorale_labels(score, max_beats=max_beats)
    if not labels or labels == [UNKNOWN]:
        raise ParameterError(f"chorale {number_or_path!r} has no notes or no reducible chord")
    limit = float(q_intervals[-1, 1])
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    for j, notes in enumerate(_notes(score)):
        program = ensemble[min(j, len(ensemble) - 1)]
        inst = pretty_midi.Instrument(program=program, name=f"part{j}")
        vel = int(rng.integers(70, 110))
        for s, e, p in notes:
            if s >= limit - 1e-9:
                continue
            inst.notes.append(pretty_midi.Note(vel, p, s * spq, min(e, limit) * spq))
        if inst.notes:
            midi.instruments.append(inst)
    intervals = np.round(np.vstack([q_intervals * spq, [[limit * spq, limit * spq + tail]]]), 3)
    intervals[1:, 0] = intervals[:-1, 1]
    return Piece(
        midi=midi,
        intervals=intervals,
        labels=[*labels, "N"],
        duration=float(intervals[-1, 1]),
        programs=[inst.program for inst in midi.instruments],
    )
