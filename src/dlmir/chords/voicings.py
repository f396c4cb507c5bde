"""Chord voicings: which MIDI pitches play a chord label (piano close/open positions, inversions, guitar shapes).

All functions take a Harte label of the vocabulary (anything :func:`dlmir.chords.parse` reads) and
return MIDI note numbers (60 = C4) or, for the guitar, frets per string.

Guitar: standard tuning, strings low to high :data:`GUITAR_TUNING` = E2 A2 D3 G3 B3 E4 (MIDI 40 45 50 55
59 64). A shape is a tuple of 6 frets (``None`` = muted string, 0 = open). :func:`guitar_voicings`
enumerates playable shapes; :func:`guitar_pitches` turns a shape into MIDI pitches. The same shapes are
the targets of the fretboard network.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

from dlmir.chords.vocabulary import parse
from dlmir.errors import ParameterError

__all__ = [
    "GUITAR_TUNING",
    "chord_tones",
    "close_voicing",
    "guitar_pitches",
    "guitar_voicing",
    "guitar_voicings",
    "open_voicing",
]

GUITAR_TUNING: tuple[int, ...] = (40, 45, 50, 55, 59, 64)


def chord_tones(label: str) -> tuple[int, list[int]]:
    """Root pitch class and the chord's intervals above it in semitones (``"C#:min7"`` -> ``(1, [0, 3, 7, 10])``).

    Raises
    ------
    ParameterError : ``N``/``X`` (no chord tones).
    """
    root, intervals, _ = parse(label)
    if root is None or not intervals:
        raise ParameterError(f"chord label {label!r} has no chord tones to voice")
    return root, sorted(set(intervals))


def close_voicing(label: str, *, octave: int = 4, inversion: int = 0) -> list[int]:
    """Close position: chord tones stacked within an octave, from the root in ``octave`` (C4 = MIDI 60).

    Parameters
    ----------
    label : Harte chord label.
    octave : octave of the root before inversion (scientific pitch notation).
    inversion : 0 root position, 1 first inversion (lowest tone moved up an octave), ... modulo the
        number of tones.

    Returns
    -------
    pitches : ascending MIDI note numbers, one per chord tone.
    """
    root, intervals = chord_tones(label)
    base = 12 * (octave + 1) + root
    pitches = [base + i for i in intervals]
    for _ in range(inversion % len(pitches)):
        pitches = [*pitches[1:], pitches[0] + 12]
    return pitches


def open_voicing(label: str, *, octave: int = 3, inversion: int = 0) -> list[int]:
    """Open (spread) position: the close voicing with every second tone from the top dropped an octave
    ("drop 2" for four tones), then the bass raised/lowered so it stays the lowest note.

    Returns ascending MIDI note numbers spanning more than an octave (for triads: root, fifth, third + 12).
    """
    close = close_voicing(label, octave=octave + 1, inversion=inversion)
    if len(close) == 3:
        pitches = [close[0] - 12, close[2] - 12, close[1]]
    else:
        pitches = [p - 12 if k % 2 == 1 else p for k, p in enumerate(reversed(close))]
    return sorted(pitches)


@lru_cache(maxsize=512)
def _guitar_shapes(
    root: int, intervals: tuple[int, ...], max_fret: int, span: int
) -> tuple[tuple[int | None, ...], ...]:
    pcs = {(root + i) % 12 for i in intervals}
    required = set(pcs)
    if len(intervals) >= 4 and 7 in intervals:  # the fifth of a seventh/sixth chord may be left out
        required.discard((root + 7) % 12)
    found: dict[tuple[int | None, ...], tuple] = {}
    for base in range(0, max_fret - span + 2):
        options = []
        for open_pitch in GUITAR_TUNING:
            opts: list[int | None] = [None]
            for fret in [0, *range(max(base, 1), base + span)]:
                if (open_pitch + fret) % 12 in pcs and fret not in opts:
                    opts.append(fret)
            options.append(opts)
        for shape in product(*options):
            sounding = [k for k, f in enumerate(shape) if f is not None]
            if len(sounding) < 4 or sounding != list(range(sounding[0], 6)):  # mutes only below the bass
                continue
            pitches = [GUITAR_TUNING[k] + shape[k] for k in sounding]  # type: ignore[operator]
            if pitches[0] % 12 != root or not required <= {p % 12 for p in pitches}:
                continue
            fretted = [f for f in shape if f]
            if fretted and max(fretted) - min(fretted) >= span:
                continue
            if len(fretted) > 4:  # four fingers (no barre modelling beyond that)
                low = min(fretted)
                if sum(1 for f in fretted if f != low) > 3:
                    continue
            key = (max(fretted, default=0), -len(sounding), sum(fretted))
            found[shape] = key
    return tuple(sorted(found, key=lambda s: (found[s], [(-1 if f is None else f) for f in s])))


def guitar_voicings(label: str, *, max_fret: int = 12, span: int = 4) -> list[tuple[int | None, ...]]:
    """All playable guitar shapes of ``label`` in standard tuning, best first.

    A shape sounds at least 4 strings, mutes strings only below its lowest sounding string, has the
    root in the bass, contains every chord tone (the fifth may be omitted from 4-note chords), fits in
    ``span`` frets (open strings free) with at most 4 fretting fingers (the lowest fret may be barred).
    Order: lowest highest-fret first, then more strings, then smaller fret sum (so ``C:maj`` gives the
    open shape ``(None, 3, 2, 0, 1, 0)`` first).

    Returns
    -------
    shapes : list of 6-tuples of frets for strings E2 A2 D3 G3 B3 E4 (``None`` = muted).
    """
    root, intervals = chord_tones(label)
    return list(_guitar_shapes(root, tuple(intervals), max_fret, span))


def guitar_voicing(label: str, *, index: int = 0) -> tuple[int | None, ...]:
    """The ``index``-th best guitar shape of ``label`` (see :func:`guitar_voicings`), wrapping around."""
    shapes = guitar_voicings(label)
    if not shapes:
        raise ParameterError(f"no playable guitar shape for {label!r}")
    return shapes[index % len(shapes)]


def guitar_pitches(frets: tuple[int | None, ...]) -> list[int]:
    """MIDI pitches sounded by a guitar shape (6 frets, low E string first, ``None`` muted), low to high."""
    if len(frets) != len(GUITAR_TUNING):
        raise ParameterError(f"a guitar shape has {len(GUITAR_TUNING)} frets (E2 A2 D3 G3 B3 E4), got {len(frets)}")
    return [open_pitch + f for open_pitch, f in zip(GUITAR_TUNING, frets, strict=True) if f is not None]
