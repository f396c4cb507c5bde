"""The chord vocabulary: Harte labels, classes, pitch-class templates, transposition and reduction.

The full vocabulary has 12 roots x 13 qualities + ``N`` = 157 classes; the major/minor vocabulary has
12 x 2 + ``N`` = 25. Labels use Harte syntax (``C:maj``, ``C#:min7``, ``A:hdim7``, ``N``) and are
parsed with :mod:`mir_eval.chord`, so anything mir_eval reads, dlmir reads.

Class order: full ``index = root * 13 + quality_index`` (qualities in :data:`QUALITIES` order), ``N`` last
(156); majmin ``index = root * 2 + (0 maj | 1 min)``, ``N`` = 24.

Reduction rule (:func:`reduce`), applied to any Harte label:

1. ``N`` stays ``N``; ``X`` (and anything mir_eval marks unknown) becomes ``X``.
2. The bass (inversion) is ignored, and extensions above the seventh (9, 11, 13) are dropped, as
   :func:`mir_eval.chord.encode` does with ``reduce_extended_chords=False``.
3. A chord with fewer than three distinct pitch classes (``C:5``, ``C:1``, ``C:(1)``) is ``X``: no
   quality of the vocabulary is defined by it.
4. If the pitch classes above the root equal a quality's intervals exactly, that quality.
5. Otherwise the quality with the highest score ``|Q & L| - |Q - L|`` (notes shared minus notes the
   quality would add), ties broken by the order of :data:`QUALITIES` (triads before sevenths). E.g.
   ``C:9`` -> ``C:7``, ``C:min(9)`` -> ``C:min``, ``C:maj(#11)`` -> ``C:maj``, ``C:7(#9)`` -> ``C:7``.
6. For ``majmin``, the full-vocabulary result maps by its triad: ``maj, maj7, 7, maj6`` -> ``maj``;
   ``min, min7, min6`` -> ``min``; ``dim, aug, sus4, sus2, hdim7, dim7`` -> ``X`` (as MIREX's majmin
   evaluation excludes them).
"""

from __future__ import annotations

from functools import lru_cache

import mir_eval.chord
import numpy as np

from dlmir.errors import AnnotationError, ParameterError

ROOTS: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "7": (0, 4, 7, 10),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
NO_CHORD = "N"
UNKNOWN = "X"
_MAJMIN = {"maj": "maj", "maj7": "maj", "7": "maj", "maj6": "maj", "min": "min", "min7": "min", "min6": "min"}
VOCABULARIES = ("full", "majmin")


def chord_label(root: int, quality: str) -> str:
    """Harte label of ``quality`` on pitch class ``root`` (0 = C): ``chord_label(1, "min7") == "C#:min7"``."""
    if quality not in QUALITIES:
        raise ParameterError(f"unknown chord quality {quality!r}; choose one of {', '.join(QUALITIES)}")
    return f"{ROOTS[int(root) % 12]}:{quality}"


@lru_cache(maxsize=4096)
def parse(label: str) -> tuple[int | None, tuple[int, ...], int | None]:
    """Parse a Harte label into ``(root pitch class, intervals above the root, bass pitch class)``.

    Intervals are semitones in ``0..11`` including 0; extensions above the seventh are dropped.
    ``N`` gives ``(None, (), None)``; ``X`` raises :class:`AnnotationError` like any unparseable label.
    """
    label = label.strip()
    if label == NO_CHORD:
        return None, (), None
    try:
        root, bitmap, bass = mir_eval.chord.encode(label, reduce_extended_chords=False)
    except Exception as exc:  # mir_eval raises InvalidChordException and others
        raise AnnotationError(f"cannot parse chord label {label!r}: {exc}") from exc
    if root < 0 or np.any(bitmap < 0):
        raise AnnotationError(f"chord label {label!r} is unknown (X) and has no pitch classes")
    intervals = tuple(int(i) for i in np.flatnonzero(bitmap))
    return int(root), intervals, int((root + bass) % 12)


def pitch_classes(label: str) -> tuple[int, ...]:
    """Absolute pitch classes (0 = C) sounding in ``label``, sorted; ``N`` gives ``()``."""
    root, intervals, _ = parse(label)
    if root is None:
        return ()
    return tuple(sorted((root + i) % 12 for i in intervals))


def template(label: str) -> np.ndarray:
    """Binary pitch-class vector ``(12,)`` float32 of ``label`` (C first); ``N`` gives zeros."""
    out = np.zeros(12, dtype=np.float32)
    out[list(pitch_classes(label))] = 1.0
    return out


def _root_and_rest(label: str) -> tuple[str, str]:
    for i, ch in enumerate(label):
        if ch in ":/" and i > 0:
            return label[:i], label[i:]
    return label, ""


def transpose(label: str, semitones: int) -> str:
    """Transpose any Harte label by ``semitones`` (positive = up); quality, extensions and bass interval stay.

    ``N`` and ``X`` are unchanged; the root is respelled from :data:`ROOTS` (``transpose("B:7", 1) == "C:7"``).
    """
    label = label.strip()
    if label in (NO_CHORD, UNKNOWN):
        return label
    root_name, rest = _root_and_rest(label)
    try:
        root = mir_eval.chord.pitch_class_to_semitone(root_name)
    except Exception as exc:
        raise AnnotationError(f"cannot transpose {label!r}: bad root {root_name!r}") from exc
    return ROOTS[(root + int(semitones)) % 12] + rest


@lru_cache(maxsize=4096)
def _reduce_full(label: str) -> str:
    if label in (NO_CHORD, ""):
        return NO_CHORD
    try:
        root, intervals, _ = parse(label)
    except AnnotationError:
        return UNKNOWN
    if root is None:
        return NO_CHORD
    present = set(intervals)
    if len(present) < 3:
        return UNKNOWN
    best, best_score = None, None
    for name, q in QUALITIES.items():
        qs = set(q)
        if qs == present:
            return chord_label(root, name)
        score = len(qs & present) - len(qs - present)
        if best_score is None or score > best_score:
            best, best_score = name, score
    return chord_label(root, best)  # type: ignore[arg-type]


def reduce(label: str, vocabulary: str = "full") -> str:
    """Reduce any Harte label to a label of ``vocabulary`` (``"full"`` or ``"majmin"``), or ``"X"``.

    See the module docstring for the rule.
    """
    if vocabulary not in VOCABULARIES:
        raise ParameterError(f"vocabulary must be one of {VOCABULARIES}, got {vocabulary!r}")
    full = _reduce_full(label.strip())
    if vocabulary == "full" or full in (NO_CHORD, UNKNOWN):
        return full
    root, quality = full.split(":")
    return f"{root}:{_MAJMIN[quality]}" if quality in _MAJMIN else UNKNOWN


class ChordVocabulary:
    """The classes of a chord vocabulary: ``ChordVocabulary("full")`` (157) or ``("majmin")`` (25).

    Attributes
    ----------
    name : ``"full"`` or ``"majmin"``
    labels : list of Harte labels, in class order, ``N`` last
    templates : np.ndarray ``(n_classes, 12)`` float32 binary pitch classes; the ``N`` row is zeros
    """

    def __init__(self, name: str = "full") -> None:
        if name not in VOCABULARIES:
            raise ParameterError(f"vocabulary must be one of {VOCABULARIES}, got {name!r}")
        self.name = name
        qualities = list(QUALITIES) if name == "full" else ["maj", "min"]
        self.labels: list[str] = [chord_label(r, q) for r in range(12) for q in qualities] + [NO_CHORD]
        self._index = {lab: i for i, lab in enumerate(self.labels)}
        self.templates = np.stack([template(lab) for lab in self.labels])

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"ChordVocabulary({self.name!r}, {len(self)} classes)"

    @property
    def no_chord(self) -> int:
        """Class index of ``N``."""
        return len(self.labels) - 1

    def index(self, label: str) -> int:
        """Class index of ``label`` after reduction; raises :class:`AnnotationError` if it reduces to ``X``."""
        reduced = reduce(label, self.name)
        if reduced == UNKNOWN:
            raise AnnotationError(f"chord label {label!r} does not reduce to the {self.name!r} vocabulary (X)")
        return self._index[reduced]

    def label(self, index: int) -> str:
        """Harte label of class ``index``."""
        if not 0 <= int(index) < len(self.labels):
            raise ParameterError(f"class index {index} out of range for {len(self)} classes")
        return self.labels[int(index)]

    def transpose_index(self, index: int, semitones: int) -> int:
        """Class index of class ``index`` transposed by ``semitones`` (``N`` stays ``N``)."""
        return self._index[transpose(self.label(index), semitones)]


VOCAB = ChordVocabulary("full")
MAJMIN = ChordVocabulary("majmin")

__all__ = [
    "MAJMIN",
    "NO_CHORD",
    "QUALITIES",
    "ROOTS",
    "UNKNOWN",
    "VOCAB",
    "VOCABULARIES",
    "ChordVocabulary",
    "chord_label",
    "parse",
    "pitch_classes",
    "reduce",
    "template",
    "transpose",
]
