"""Random chord progressions over the full 157-class vocabulary, as labelled MIDI (:class:`dlmir.data.synth.Piece`).

A progression is a sequence of chords, each held 0.5-4 s, drawn by one of two generators:

* a functional-harmony random walk in a random key (major or minor): diatonic scale degrees move by
  a fixed transition table (tonic -> subdominant/dominant ..., dominant -> tonic), each degree's
  triad sometimes coloured with a seventh, sixth or suspension, or turned into a secondary dominant;
* uniformly random changes: every chord independently uniform over the 156 chord classes.

Every piece picks a tempo (60-160 BPM), a GM program for the chord (piano, guitars, organ, strings,
brass, winds, pads), a voicing style (close, open, inversions, guitar shapes from
:mod:`dlmir.chords.voicings`), a rhythm (block, arpeggio, strum), a bass line (root or the chord's
lowest voiced tone, on a bass program), and sometimes GM drums (channel 10). Some pieces contain
``N`` segments (silence, or drums only).

Labels are exact by construction: a chord label covers ``[start, end)`` of the segment in which its
notes are played (note-offs at the segment end; the release tail of each chord overlaps the next
label, as in real recordings). When the bass plays a tone other than the root the label carries the
Harte bass interval (``C:maj/3``); :func:`dlmir.chords.reduce` drops it. The rendered tail after
the last chord is labelled ``N``.
"""

from __future__ import annotations

import numpy as np

from dlmir.chords import QUALITIES, chord_label, parse
from dlmir.chords.voicings import close_voicing, guitar_pitches, guitar_voicings, open_voicing
from dlmir.data.synth import Piece
from dlmir.errors import ParameterError

__all__ = ["CHORD_PROGRAMS", "BASS_PROGRAMS", "generate_progression", "random_walk_labels", "uniform_labels"]

CHORD_PROGRAMS: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 4),
    "guitar": (24, 25, 26, 27),
    "organ": (16, 17, 19),
    "strings": (48, 49, 50),
    "brass": (61, 62),
    "winds": (52, 68, 71),  # choir aahs, oboe, clarinet (ensemble-like sustain)
    "pads": (88, 89, 90, 91),
}
"""GM programs (0-based) used for the chord part, by family."""

BASS_PROGRAMS: tuple[int, ...] = (32, 33, 34, 35, 38, 43)
"""GM programs for the bass line: acoustic/finger/pick/fretless/synth bass, contrabass."""

_MAJOR_DEGREES = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (11, "dim"))
_MINOR_DEGREES = ((0, "min"), (2, "dim"), (3, "maj"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj"))
# functional transitions between scale degrees 0..6 (I ii iii IV V vi vii): T -> S/D, S -> D/T, D -> T
_NEXT = {
    0: (3, 4, 5, 1, 2, 6),
    1: (4, 6, 0),
    2: (5, 3, 1),
    3: (4, 0, 1, 6),
    4: (0, 5, 3),
    5: (1, 3, 4, 2),
    6: (0, 2),
}
_COLOUR = {  # triad quality -> qualities it may become (with its scale degree kept)
    "maj": ("maj7", "7", "maj6", "sus4", "sus2"),
    "min": ("min7", "min6"),
    "dim": ("hdim7", "dim7"),
}
_DEGREE = {0: "1", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5", 8: "#5", 9: "6", 10: "b7", 11: "7"}
_DRUMS = {"kick": 36, "snare": 38, "hat": 42}


def random_walk_labels(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` chord labels from a functional-harmony random walk in a random key (see module docstring)."""
    tonic = int(rng.integers(12))
    degrees = _MAJOR_DEGREES if rng.random() < 0.6 else _MINOR_DEGREES
    d = 0
    labels = []
    for _ in range(n):
        step, quality = degrees[d]
        root = (tonic + step) % 12
        u = rng.random()
        if u < 0.12 and d != 0:  # secondary dominant of this degree
            root, quality = (root + 7) % 12, "7"
        elif u < 0.45 and quality in _COLOUR:
            quality = str(rng.choice(_COLOUR[quality]))
        elif u < 0.5:
            quality = "aug" if quality == "maj" else quality
        labels.append(chord_label(root, quality))
        d = int(rng.choice(_NEXT[d]))
    return labels


def uniform_labels(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` chord labels uniform over the 156 chord classes (12 roots x 13 qualities)."""
    names = list(QUALITIES)
    return [chord_label(int(rng.integers(12)), names[int(rng.integers(len(names)))]) for _ in range(n)]


def _voicing(rng: np.random.Generator, label: str, style: str) -> list[int]:
    if style == "close":
        return close_voicing(label, octave=4)
    if style == "open":
        return open_voicing(label, octave=3)
    if style == "inversion":
        n_tones = len(parse(label)[1])
        return close_voicing(label, octave=int(rng.integers(3, 5)), inversion=int(rng.integers(1, n_tones)))
    shapes = guitar_voicings(label)
    if not shapes:
        return open_voicing(label, octave=3)
    return guitar_pitches(shapes[int(rng.integers(min(len(shapes), 4)))])


def _bass_label(label: str, bass_pc: int) -> str:
    root = parse(label)[0]
    interval = (bass_pc - root) % 12  # type: ignore[operator]
    return label if interval == 0 else f"{label}/{_DEGREE[interval]}"


def generate_progression(
    seed: int | np.random.SeedSequence | list[int],
    *,
    target_duration: float | None = None,
    min_chord: float = 0.5,
    max_chord: float = 4.0,
) -> Piece:
    """A random labelled chord progression.

    Parameters
    ----------
    seed : seed of the piece (the same seed gives the same piece).
    target_duration : seconds of chords (default: drawn uniformly in 15-45 s); the piece stops at the
        first chord boundary after it.
    min_chord, max_chord : limits of a chord's duration in seconds.

    Returns
    -------
    piece : :class:`dlmir.data.synth.Piece`; ``piece.intervals`` cover ``[0, piece.duration)``.
    """
    if not 0 < min_chord <= max_chord:
        raise ParameterError(f"need 0 < min_chord <= max_chord, got {min_chord}, {max_chord}")
    import pretty_midi

    rng = np.random.default_rng(seed)
    target = float(rng.uniform(15, 45)) if target_duration is None else float(target_duration)
    bpm = float(rng.uniform(60, 160))
    beat = 60.0 / bpm
    family = str(rng.choice(list(CHORD_PROGRAMS)))
    program = int(rng.choice(CHORD_PROGRAMS[family]))
    style = str(rng.choice(["close", "open", "inversion", "guitar"]))
    if family == "guitar":
        style = "guitar"
    rhythm = str(rng.choice(["block", "arpeggio", "strum"]))
    bass_mode = str(rng.choice(["none", "root", "chord"], p=[0.25, 0.45, 0.3]))
    bass_program = int(rng.choice(BASS_PROGRAMS))
    drums = bool(rng.random() < 0.35)
    p_no_chord = 0.08 if rng.random() < 0.4 else 0.0
    velocity = int(rng.integers(60, 115))

    n_max = int(np.ceil(target / min_chord)) + 1
    labels = random_walk_labels(rng, n_max) if rng.random() < 0.7 else uniform_labels(rng, n_max)
    beats_options = [b for b in (1, 2, 3, 4, 6, 8) if min_chord <= b * beat <= max_chord] or [
        max(1, round(min_chord / beat))
    ]

    chord = pretty_midi.Instrument(program=program, name=family)
    bass = pretty_midi.Instrument(program=bass_program, name="bass")
    kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    segments: list[tuple[float, float, str]] = []
    t = 0.0
    k = 0
    while t < target or not segments:
        n_beats = int(rng.choice(beats_options))
        dur = n_beats * beat
        start, end = t, t + dur
        if p_no_chord and rng.random() < p_no_chord:
            segments.append((start, end, "N"))
        else:
            label = labels[k % len(labels)]
            k += 1
            pitches = _voicing(rng, label, style)
            _play(chord, rng, pitches, start, end, beat, rhythm, velocity)
            if bass_mode != "none":
                bass_pc = parse(label)[0] if bass_mode == "root" else min(pitches) % 12
                bass_pitch = 36 + (bass_pc - 36) % 12  # C2..B2
                for b in range(n_beats if rhythm != "block" else 1):
                    s = start + b * beat
                    e = end if rhythm == "block" else min(s + 0.9 * beat, end)
                    bass.notes.append(pretty_midi.Note(min(127, velocity + 5), bass_pitch, s, e))
                label = _bass_label(label, bass_pc)
            else:
                label = _bass_label(label, min(pitches) % 12)
            segments.append((start, end, label))
        if drums:
            for b in range(n_beats):
                s = start + b * beat
                kit.notes.append(pretty_midi.Note(velocity, _DRUMS["hat"], s, s + 0.1))
                drum = _DRUMS["kick"] if b % 2 == 0 else _DRUMS["snare"]
                kit.notes.append(pretty_midi.Note(velocity, drum, s, s + 0.1))
        t = end
    tail = 1.0
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    midi.instruments.extend(inst for inst in (chord, bass, kit) if inst.notes)
    merged: list[list] = []
    for s, e, lab in segments:
        if merged and merged[-1][2] == lab == "N":
            merged[-1][1] = e
        else:
            merged.append([s, e, lab])
    merged.append([t, t + tail, "N"])
    intervals = np.round(np.array([[s, e] for s, e, _ in merged], dtype=np.float64), 3)
    intervals[1:, 0] = intervals[:-1, 1]
    programs = [inst.program for inst in midi.instruments if not inst.is_drum]
    return Piece(
        midi=midi,
        intervals=intervals,
        labels=[lab for _, _, lab in merged],
        duration=float(intervals[-1, 1]),
        programs=programs,
    )


def _play(inst, rng, pitches, start, end, beat, rhythm, velocity) -> None:  # noqa: ANN001 - internal
    import pretty_midi

    pitches = sorted(pitches)
    if rhythm == "block":
        for p in pitches:
            inst.notes.append(pretty_midi.Note(velocity, p, start, end))
        return
    if rhythm == "strum":
        gap = float(rng.uniform(0.01, 0.03))
        s = start
        while s < end - 1e-9:
            e = min(s + beat, end)
            order = pitches if rng.random() < 0.7 else pitches[::-1]
            for j, p in enumerate(order):
                inst.notes.append(pretty_midi.Note(velocity, p, min(s + j * gap, e - 0.01), e))
            s = e
        return
    step = beat / 2  # arpeggio in eighth notes, each note held to the end of the chord
    s, j = start, 0
    while s < end - 1e-9:
        inst.notes.append(pretty_midi.Note(velocity, pitches[j % len(pitches)], s, end))
        s += step
        j += 1
