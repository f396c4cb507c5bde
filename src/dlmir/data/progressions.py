"""Generated chord progressions over the full 157-class vocabulary, as labelled MIDI (:class:`Piece`).

A piece is a key, a tempo and a sequence of chords. Each chord is either the next step of a
functional-harmony random walk in the key (tonic -> predominant -> dominant -> tonic, with diatonic
sevenths, sixths and suspensions; :data:`MAJOR_DEGREES`, :data:`MINOR_DEGREES`) or, with probability
``p_random``, a uniformly random chord of the vocabulary (12 roots x 13 qualities), so every class
occurs. Each chord lasts a whole number of beats, 0.5-4 s.

Arrangement (drawn per piece from the seed): a GM program family (piano, guitar, organ, strings,
brass, winds, pads); a rhythm (``block``: the chord struck on the first beat or on every beat;
``arpeggio``: chord tones one per eighth note, each held to the chord's end; ``strum``: a guitar shape
strummed low to high, 12-25 ms between strings); a voicing (close or open position with a random
inversion, or a guitar shape from :mod:`dlmir.chords.voicings`); an optional bass line (the root, in
MIDI octave 2, held or root/fifth on beats) and optional drums (GM channel 10). Some pieces start or end
with a ``N`` segment (silence, or drums only), and occasionally a bar of ``N`` falls between chords.

Labels are exact by construction: a chord's label spans from its first note-on to the next chord's
first note-on; the release after the last chord is ``N``.
"""

from __future__ import annotations

import numpy as np

from dlmir.chords.vocabulary import NO_CHORD, QUALITIES, chord_label
from dlmir.chords.voicings import close_voicing, guitar_pitches, guitar_voicings, open_voicing
from dlmir.data.synth import Piece
from dlmir.errors import ParameterError

__all__ = ["BASS_PROGRAMS", "FAMILIES", "MAJOR_DEGREES", "MINOR_DEGREES", "RHYTHMS", "make_progression"]

FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 4, 5),
    "guitar": (24, 25, 26, 27),
    "organ": (16, 17, 19),
    "strings": (48, 49, 50),
    "brass": (61, 62),
    "winds": (52, 68, 71, 73),
    "pads": (88, 89, 90, 91, 95),
}
BASS_PROGRAMS: tuple[int, ...] = (32, 33, 34, 35, 43)
RHYTHMS: tuple[str, ...] = ("block", "arpeggio", "strum")

# degree: (semitones above the tonic, qualities, next degrees)
MAJOR_DEGREES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "I": (0, ("maj", "maj7", "maj6", "sus2", "sus4"), ("IV", "ii", "vi", "V", "iii")),
    "ii": (2, ("min", "min7"), ("V", "vii")),
    "iii": (4, ("min", "min7"), ("vi", "IV")),
    "IV": (5, ("maj", "maj7", "maj6"), ("V", "I", "ii")),
    "V": (7, ("maj", "7", "sus4"), ("I", "vi")),
    "vi": (9, ("min", "min7"), ("ii", "IV")),
    "vii": (11, ("dim", "hdim7"), ("I",)),
}
MINOR_DEGREES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "i": (0, ("min", "min7", "min6"), ("iv", "ii", "VI", "V", "III")),
    "ii": (2, ("dim", "hdim7"), ("V",)),
    "III": (3, ("maj", "maj7", "aug"), ("VI", "iv")),
    "iv": (5, ("min", "min7", "min6"), ("V", "i")),
    "V": (7, ("maj", "7"), ("i", "VI")),
    "VI": (8, ("maj", "maj7"), ("ii", "iv")),
    "vii": (11, ("dim7", "dim"), ("i",)),
}


def _chords(rng: np.random.Generator, n: int, p_random: float) -> list[str]:
    tonic = int(rng.integers(12))
    degrees = MAJOR_DEGREES if rng.random() < 0.6 else MINOR_DEGREES
    degree = next(iter(degrees))
    out = []
    qualities = list(QUALITIES)
    for _ in range(n):
        if rng.random() < p_random:
            out.append(chord_label(int(rng.integers(12)), qualities[int(rng.integers(len(qualities)))]))
        else:
            offset, quals, _ = degrees[degree]
            out.append(chord_label((tonic + offset) % 12, quals[int(rng.integers(len(quals)))]))
        nexts = degrees[degree][2]
        degree = nexts[int(rng.integers(len(nexts)))]
    return out


def make_progression(
    seed: int,
    *,
    duration: float = 30.0,
    p_random: float = 0.35,
    drums: bool | None = None,
    rhythm: str | None = None,
    family: str | None = None,
) -> Piece:
    """Generate one labelled progression of about ``duration`` seconds.

    Parameters
    ----------
    seed : everything (key, chords, tempo, arrangement) follows from it.
    duration : target length in seconds (the piece stops at the first chord ending after it).
    p_random : probability that a chord is uniformly random rather than the walk's next step.
    drums, rhythm, family : force the drums on/off, the rhythm (:data:`RHYTHMS`) or the program family
        (:data:`FAMILIES`); ``None`` draws them from the seed.

    Returns
    -------
    Piece : MIDI, contiguous ``intervals`` (seconds) and ``labels`` covering ``[0, duration]``.
    """
    if duration <= 0:
        raise ParameterError(f"duration must be positive, got {duration}")
    if rhythm is not None and rhythm not in RHYTHMS:
        raise ParameterError(f"rhythm must be one of {RHYTHMS}, got {rhythm!r}")
    if family is not None and family not in FAMILIES:
        raise ParameterError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
    import pretty_midi

    rng = np.random.default_rng(seed)
    family = family or list(FAMILIES)[int(rng.integers(len(FAMILIES)))]
    program = int(rng.choice(FAMILIES[family]))
    if rhythm is None:
        rhythm = "strum" if family == "guitar" and rng.random() < 0.7 else str(rng.choice(["block", "arpeggio"]))
    voicing = "guitar" if rhythm == "strum" else str(rng.choice(["close", "open", "guitar"]))
    use_drums = bool(rng.random() < 0.35) if drums is None else drums
    use_bass = bool(rng.random() < 0.6)
    bpm = float(rng.uniform(70, 150))
    beat = 60.0 / bpm
    restrike = bool(rng.random() < 0.5)
    velocity = int(rng.integers(60, 105))

    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    inst = pretty_midi.Instrument(program=program)
    bass = pretty_midi.Instrument(program=int(rng.choice(BASS_PROGRAMS)))
    kit = pretty_midi.Instrument(program=0, is_drum=True)

    def vel() -> int:
        return int(np.clip(velocity + rng.integers(-10, 11), 1, 127))

    segments: list[tuple[float, float, str]] = []
    t = 0.0
    if rng.random() < 0.3:  # leading N: silence or drums only
        n_beats = int(rng.integers(2, 5))
        segments.append((t, t + n_beats * beat, NO_CHORD))
        t += n_beats * beat
    beat_choices = [b for b in (1, 2, 3, 4, 6, 8) if 0.5 <= b * beat <= 4.0]
    chords = _chords(rng, 64, p_random)
    k = 0
    while t < duration and k < len(chords):
        if k > 0 and rng.random() < 0.05:  # a bar of N inside the piece
            segments.append((t, t + 4 * beat, NO_CHORD))
            t += 4 * beat
        n_beats = int(rng.choice(beat_choices))
        segments.append((t, t + n_beats * beat, chords[k]))
        t += n_beats * beat
        k += 1
    if rng.random() < 0.3:  # trailing N with drums or silence
        segments.append((t, t + 2 * beat, NO_CHORD))
        t += 2 * beat

    inversion = int(rng.integers(4))
    octave = int(rng.integers(3, 5))
    for start, end, label in segments:
        n_beats = round((end - start) / beat)
        if use_drums:
            for b in range(n_beats):
                tb = start + b * beat
                kit.notes.append(pretty_midi.Note(vel(), 36 if b % 2 == 0 else 38, tb, tb + 0.1))
                for h in (0.0, 0.5):
                    kit.notes.append(pretty_midi.Note(max(1, vel() - 20), 42, tb + h * beat, tb + h * beat + 0.05))
        if label == NO_CHORD:
            continue
        if voicing == "guitar":
            shapes = guitar_voicings(label)
            pitches = guitar_pitches(shapes[int(rng.integers(min(3, len(shapes))))])
        elif voicing == "open":
            pitches = open_voicing(label, octave=octave - 1, inversion=inversion)
        else:
            pitches = close_voicing(label, octave=octave, inversion=int(rng.integers(4)))
        if rhythm == "block":
            strikes = range(n_beats) if restrike else [0]
            for b in strikes:
                on = start + b * beat
                off = end if not restrike else min(end, on + beat)
                v = vel()
                inst.notes.extend(pretty_midi.Note(v, p, on, off) for p in pitches)
        elif rhythm == "arpeggio":
            order = pitches + pitches[-2:0:-1] if rng.random() < 0.5 else pitches
            for s in range(2 * n_beats):
                on = start + s * beat / 2
                inst.notes.append(pretty_midi.Note(vel(), order[s % len(order)], on, end))
        else:  # strum on every beat (or every second), low to high
            step = float(rng.uniform(0.012, 0.025))
            every = 1 if restrike else 2
            for b in range(0, n_beats, every):
                on = start + b * beat
                off = min(end, on + every * beat)
                v = vel()
                inst.notes.extend(
                    pretty_midi.Note(v, p, on + j * step, max(on + j * step + 0.05, off)) for j, p in enumerate(pitches)
                )
        if use_bass:
            root_pitch = 36 + close_voicing(label, octave=4)[0] % 12
            if rng.random() < 0.5 or n_beats < 2:
                bass.notes.append(pretty_midi.Note(vel(), root_pitch, start, end))
            else:
                fifth = (
                    root_pitch + 7
                    if (close_voicing(label, octave=4)[0] + 7) % 12 in {p % 12 for p in pitches}
                    else root_pitch + 12
                )
                for b in range(n_beats):
                    p = root_pitch if b % 2 == 0 else fifth
                    bass.notes.append(pretty_midi.Note(vel(), p, start + b * beat, start + (b + 1) * beat))
    pm.instruments.append(inst)
    programs = [program]
    if bass.notes:
        pm.instruments.append(bass)
        programs.append(bass.program)
    if kit.notes:
        pm.instruments.append(kit)
    last = max(n.end for i in pm.instruments for n in i.notes)
    total = round(max(t, last) + 1.0, 3)
    intervals = [[s, e] for s, e, _ in segments]
    labels = [lab for _, _, lab in segments]
    intervals.append([t, total])
    labels.append(NO_CHORD)
    # merge equal neighbours (a repeated chord is one segment)
    merged_i, merged_l = [list(intervals[0])], [labels[0]]
    for (s, e), lab in zip(intervals[1:], labels[1:], strict=True):
        if lab == merged_l[-1]:
            merged_i[-1][1] = e
        else:
            merged_i.append([s, e])
            merged_l.append(lab)
    return Piece(
        midi=pm,
        intervals=np.round(np.asarray(merged_i, dtype=np.float64), 3),
        labels=merged_l,
        duration=total,
        programs=programs,
    )
