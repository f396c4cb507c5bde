"""Chords on a guitar fretboard: one canonical shape per chord class, as one-hot targets, and ASCII tablature.

The fretboard network (Humphrey & Bello, 2014) predicts, for each of the 6 strings of a guitar in standard
tuning (low to high E2 A2 D3 G3 B3 E4, :data:`~dlmir.chords.voicings.GUITAR_TUNING`), one of ``max_fret + 2``
states: *muted* or fret ``0..max_fret``. A chord class is a point on that fretboard: its template is a
``(6, max_fret + 2)`` one-hot array, state index 0 = muted, index ``f + 1`` = fret ``f``.

Canonical shapes (:func:`fretboard_shape`): the first (most playable) shape of
:func:`~dlmir.chords.voicings.guitar_voicings` (``max_fret``, 4-fret span, root in the bass), with one
exception. Shapes of 4-note chords with a perfect fifth (``maj7, min7, 7, maj6, min6``) may drop the fifth; that
is kept when the remaining three pitch classes name no other chord, but where they would name a different chord
of the vocabulary (``C:maj6`` without G is ``{C, E, A}`` = ``A:min``; ``C:min6`` without G is ``{C, Eb, A}`` =
``A:dim``), the first shape that sounds every chord tone is taken instead. So:

* every template has exactly one state per string;
* the sounding strings of a template play exactly the chord's pitch classes, except that the fifth of
  ``maj7``, ``min7`` and ``7`` chords may be missing (``C:7`` is the open ``x32310``: C E Bb C E);
* templates of classes with different pitch-class sets are different (the bass is always the root, so even
  classes with equal sets, ``C:dim7`` and ``Eb:dim7``, get different templates);
* ``N`` is all six strings muted.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from dlmir.chords.vocabulary import NO_CHORD, ChordVocabulary, pitch_classes, reduce
from dlmir.chords.voicings import GUITAR_TUNING, guitar_voicings
from dlmir.errors import ParameterError

__all__ = [
    "MAX_FRET",
    "N_STRINGS",
    "STRING_NAMES",
    "fretboard_shape",
    "fretboard_templates",
    "frets_to_pitch_classes",
    "onehot_to_shape",
    "shape_to_onehot",
    "tab",
]

N_STRINGS = len(GUITAR_TUNING)
MAX_FRET = 12
"""Default highest fret ``F`` of a template: ``F + 2 = 14`` states per string (muted, frets 0..12)."""
STRING_NAMES: tuple[str, ...] = ("E", "A", "D", "G", "B", "e")
"""String names, low to high (the order of a shape); tablature prints them high to low."""

Shape = tuple[int | None, ...]


def _check_max_fret(max_fret: int) -> int:
    if int(max_fret) < 4:
        raise ParameterError(f"max_fret must be >= 4 (a chord shape spans 4 frets), got {max_fret}")
    return int(max_fret)


@lru_cache(maxsize=1)
def _classes_by_set() -> dict[frozenset[int], frozenset[str]]:
    """Pitch-class set -> the full-vocabulary labels with exactly that set (``C:dim7`` shares with 3 others)."""
    out: dict[frozenset[int], set[str]] = {}
    for lab in ChordVocabulary("full").labels[:-1]:
        out.setdefault(frozenset(pitch_classes(lab)), set()).add(lab)
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=1024)
def _shape(label: str, max_fret: int) -> Shape:
    reduced = reduce(label)
    if reduced == NO_CHORD:
        return (None,) * N_STRINGS
    if reduced == "X":
        raise ParameterError(f"chord label {label!r} does not reduce to the full vocabulary (X): no fretboard shape")
    shapes = guitar_voicings(reduced, max_fret=max_fret)
    if not shapes:
        raise ParameterError(f"no playable guitar shape for {reduced!r} within {max_fret} frets; raise max_fret")
    full = frozenset(pitch_classes(reduced))
    for shape in shapes:
        sounding = frozenset(frets_to_pitch_classes(shape))
        if sounding == full or not _classes_by_set().get(sounding, frozenset()) - {reduced}:
            return shape
    return shapes[0]  # pragma: no cover - every class of the vocabulary has a complete shape within 12 frets


def fretboard_shape(label: str, *, max_fret: int = MAX_FRET) -> Shape:
    """The canonical guitar shape of ``label`` (reduced to the full vocabulary first), low E string first.

    ``None`` = muted string, 0 = open; ``N`` gives six ``None``. See the module docstring for the choice.

    >>> fretboard_shape("C:maj")
    (None, 3, 2, 0, 1, 0)
    """
    return _shape(str(label).strip(), _check_max_fret(max_fret))


def shape_to_onehot(shape: Sequence[int | None], *, max_fret: int = MAX_FRET) -> np.ndarray:
    """A shape (6 frets, ``None`` muted) -> one-hot ``(6, max_fret + 2)`` float32 (state 0 muted, ``f + 1`` fret f)."""
    max_fret = _check_max_fret(max_fret)
    if len(shape) != N_STRINGS:
        raise ParameterError(f"a guitar shape has {N_STRINGS} frets (E2 A2 D3 G3 B3 E4), got {len(shape)}")
    out = np.zeros((N_STRINGS, max_fret + 2), dtype=np.float32)
    for string, fret in enumerate(shape):
        if fret is not None and not 0 <= int(fret) <= max_fret:
            raise ParameterError(f"fret {fret} on string {STRING_NAMES[string]} is outside 0..{max_fret}")
        out[string, 0 if fret is None else int(fret) + 1] = 1.0
    return out


def onehot_to_shape(states: np.ndarray | Sequence[Sequence[float]]) -> Shape:
    """A fretboard ``(6, F + 2)`` (one-hot, or per-string probabilities / scores) -> the shape of its arg-max states."""
    arr = np.asarray(states)
    if arr.ndim != 2 or arr.shape[0] != N_STRINGS or arr.shape[1] < 2:
        raise ParameterError(f"a fretboard has shape ({N_STRINGS}, max_fret + 2); got {arr.shape}")
    idx = arr.argmax(axis=1)
    return tuple(None if int(i) == 0 else int(i) - 1 for i in idx)


def frets_to_pitch_classes(frets: Sequence[int | None] | np.ndarray) -> tuple[int, ...]:
    """Sorted pitch classes (0 = C) sounded by a shape (6 frets, ``None`` muted) or a ``(6, F + 2)`` fretboard.

    >>> frets_to_pitch_classes((None, 3, 2, 0, 1, 0))
    (0, 4, 7)
    """
    if isinstance(frets, np.ndarray) and frets.ndim == 2:
        frets = onehot_to_shape(frets)
    if len(frets) != N_STRINGS:
        raise ParameterError(f"a guitar shape has {N_STRINGS} frets (E2 A2 D3 G3 B3 E4), got {len(frets)}")
    return tuple(sorted({(open_pitch + int(f)) % 12 for open_pitch, f in zip(GUITAR_TUNING, frets, strict=True)
                        if f is not None}))  # fmt: skip


@lru_cache(maxsize=8)
def _templates(vocabulary: str, max_fret: int) -> np.ndarray:
    vocab = ChordVocabulary(vocabulary)
    out = np.stack([shape_to_onehot(_shape(lab, max_fret), max_fret=max_fret) for lab in vocab.labels])
    out.setflags(write=False)
    return out


def fretboard_templates(vocabulary: str = "full", *, max_fret: int = MAX_FRET) -> np.ndarray:
    """One-hot fretboard templates of every class of ``vocabulary``: ``(n_classes, 6, max_fret + 2)`` float32.

    Rows in :class:`~dlmir.chords.ChordVocabulary` class order (157 for ``"full"``, ``N`` last: all strings
    muted); strings low E first; state 0 = muted, state ``f + 1`` = fret ``f``. A fresh (writable) copy.
    """
    return _templates(vocabulary, _check_max_fret(max_fret)).copy()


def tab(
    frets: Sequence[Sequence[int | None] | np.ndarray | str],
    labels: Sequence[str] | None = None,
) -> str:
    """ASCII tablature of a sequence of segments, one column per segment, the chord label above it.

    Parameters
    ----------
    frets : sequence of shapes (6 frets, low E first, ``None`` muted), ``(6, F + 2)`` fretboards (their arg-max
        states), or chord labels (drawn with :func:`fretboard_shape`).
    labels : one label per segment, printed above its column; default: the given chord labels, else none.

    Returns
    -------
    Seven lines (labels, then strings high e to low E), no trailing spaces. A column is ``w = max(len(label),
    digits) + 4`` characters, the fret (``x`` when muted) centred in dashes, the label centred above it (extra
    space on the right), columns separated by ``|``::

        >>> print(tab(["C:maj", "G:maj"]))
            C:maj     G:maj
        e|----0----|----3----|
        B|----1----|----0----|
        G|----0----|----0----|
        D|----2----|----0----|
        A|----3----|----2----|
        E|----x----|----3----|
    """
    shapes: list[Shape] = []
    names: list[str] = []
    for item in frets:
        if isinstance(item, str):
            shapes.append(fretboard_shape(item))
            names.append(item)
        elif isinstance(item, np.ndarray) and item.ndim == 2:
            shapes.append(onehot_to_shape(item))
        else:
            if len(item) != N_STRINGS:
                raise ParameterError(f"a guitar shape has {N_STRINGS} frets, got {len(item)}: {item!r}")
            shapes.append(tuple(None if f is None else int(f) for f in item))
    if labels is not None:
        if len(labels) != len(shapes):
            raise ParameterError(f"tab got {len(shapes)} segments but {len(labels)} labels")
        names = [str(lab) for lab in labels]
    elif len(names) != len(shapes):
        names = [""] * len(shapes)

    def centre(text: str, width: int, fill: str) -> str:
        left = (width - len(text)) // 2
        return fill * left + text + fill * (width - len(text) - left)

    cells = [["x" if f is None else str(f) for f in shape] for shape in shapes]
    widths = [max(len(name), *(len(c) for c in col)) + 4 for name, col in zip(names, cells, strict=True)]
    lines = ["  " + "".join(centre(name, w, " ") + " " for name, w in zip(names, widths, strict=True))]
    for string in reversed(range(N_STRINGS)):
        row = "".join(centre(col[string], w, "-") + "|" for col, w in zip(cells, widths, strict=True))
        lines.append(f"{STRING_NAMES[string]}|{row}")
    return "\n".join(line.rstrip() for line in lines)
