"""Band arrangements over a labelled chord progression, as per-role MIDI, rendered stem by stem.

:func:`arrange` turns chord labels (Harte syntax, the 157-class vocabulary; drawn with
:func:`dlmir.data.progressions.random_walk_labels` / :func:`~dlmir.data.progressions.uniform_labels` when not
given) into a band of 3-7 parts, one ``pretty_midi.PrettyMIDI`` per role (:data:`ROLES`, the roles of
:mod:`dlmir.data.production`):

- ``drums``: a GM kit (channel 10) in one of :data:`DRUM_STYLES` -- ``rock`` (8th hats, kick 1/3, snare 2/4),
  ``pop`` (16th or 8th hats, kick 1, 2&, 3, optional clap), ``funk`` (16th hats, syncopated kick, ghost
  snares), ``shuffle`` (swung 8ths at 2/3 of the beat; in 3/4 a jazz-waltz ride), ``ballad`` (soft hats or
  ride, cross-stick), ``latin`` (bossa nova kick and a two-bar bossa clave on the cross-stick, shaker) -- in
  4/4 or 3/4, with fills (16ths, or triplets in a shuffle, snare down the toms) at phrase ends, a crash on
  section starts, humanised velocity and timing, sometimes a percussion part (tambourine, shaker, cowbell,
  claves); absent in about 15 % of pieces;
- ``bass`` on a GM bass program in one of :data:`BASS_STYLES`: ``roots`` (held, quarters or pumping 8ths),
  ``root_fifth`` (half notes, or the bossa rhythm), ``walking`` (chord tones on every beat, chromatic or
  diatonic approach 8ths off the beat), ``octave`` (8ths or funk 16ths between the bass note and its octave);
- ``comping`` in one of :data:`COMPING_STYLES`: ``block`` (held or re-struck per bar / half bar),
  ``strum`` (guitar shapes from :func:`dlmir.chords.voicings.guitar_voicings`, down/up strums with per-string
  delays), ``arpeggio`` (up, up-down, Alberti, finger-picking; notes ring), ``syncopated`` (short stabs:
  Charleston, off-beats, skank, funk 16ths) on guitars (GM 24-30), piano, organ, strings, pads or brass,
  voice-led (each voicing chosen close to the previous one); sometimes a second comping instrument;
- ``lead``: a melody above the comping on a voice-like (choir aahs, voice oohs, synth voice, solo vox), sax,
  synth lead, distorted guitar, flute or trumpet program. Phrases of 2 or 4 bars end in a rest; notes on the
  beat are chord tones (a skeleton that moves by small steps along an arch), notes off the beat are passing
  tones, neighbours, approach tones or chord tones; at a chord change a held-over tone sometimes becomes a
  suspension resolving down by step. Voice-like and sax programs (and sometimes the others) get pitch-bend
  scoops, glides from the previous note and delayed vibrato (4.5-6.5 Hz, 15-50 cents); about 10 % of pieces
  have no lead;
- ``other``: sometimes a pad or strings part holding the chords.

Every pitched part gets a constant tuning offset of a few cents (a pitch bend at time 0, the lead up to
+-25 cents): instruments drift against each other as in real bands.

Labels are exact by construction:

- every label boundary is a beat, and harmony only changes there: bass and comping notes start at or after
  the chord's start and end at or before its end (release tails overlap the next label, as in recordings);
- bass and comping play only tones of the label (the pitch classes :func:`dlmir.chords.pitch_classes` gives,
  which include a slash bass), with one exception: the walking bass's approach and passing tones, which start
  off the beat and last at most an 8th;
- **the bass rule**: at a chord's start and on every downbeat inside it the bass plays the label's bass note:
  the root, or the Harte bass interval when the label has one (``C:maj/3`` -> E). Other chord tones (the fifth
  of a root-fifth pattern, the walking line) elsewhere do not change the label. Pieces draw a probability of
  inversions (0 or 0.15): a chord without a slash then gets one (3rd, 5th or 7th in the bass) and its label
  carries the Harte bass interval, as in :mod:`dlmir.data.progressions`;
- non-chord tones appear only in the lead and in those off-beat bass tones;
- the tail after the last chord (release, ``tail`` seconds) is labelled ``N``; ``N`` chords are silent
  except, sometimes, for the drums (and an optional drums-only intro bar, labelled ``N``).

Beats are exact too: :attr:`Arrangement.beats` are the times every part was placed on (a steady tempo, or a
slowly drifting one), :attr:`Arrangement.downbeats` the first beat of each bar. :func:`render_arrangement`
renders each role separately with FluidSynth (:class:`dlmir.data.synth.Renderer`, pitch bends included),
produces the stems with :func:`dlmir.data.production.produce`, and multiplies
label and beat times by production's ``time_scale`` (the detune), so both stay exact in the produced audio.

Speed on the shared 2-core development CPU (load ~6, 10 pieces of 17-60 s, TimGM6mb, ``"realistic"``):
2.4 s per minute of audio -- arranging 0.14 s, FluidSynth stems 1.05 s, production 1.21 s.

Examples
--------
>>> arr = arrange(seed=3)                                        # labels, rhythm, band all drawn
>>> arr = arrange(["C:maj", "A:min", "F:maj", "G:7"], [4, 4, 4, 4], seed=3, meter=4, tempo=100)
>>> y, intervals, labels, beats, info = render_arrangement(arr, "timgm6mb", seed=0)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dlmir.chords import parse, pitch_classes
from dlmir.chords.voicings import close_voicing, guitar_pitches, guitar_voicings, open_voicing
from dlmir.data.progressions import BASS_PROGRAMS, random_walk_labels, uniform_labels
from dlmir.errors import AnnotationError, AudioError, ParameterError

if TYPE_CHECKING:
    import os

    import pretty_midi

    from dlmir.data.synth import Renderer

__all__ = [
    "BASS_STYLES",
    "COMPING_PROGRAMS",
    "COMPING_STYLES",
    "DRUM_STYLES",
    "LEAD_PROGRAMS",
    "ROLES",
    "Arrangement",
    "arrange",
    "render_arrangement",
    "render_stems",
]

ROLES: tuple[str, ...] = ("drums", "bass", "comping", "lead", "other")
DRUM_STYLES: tuple[str, ...] = ("rock", "pop", "funk", "shuffle", "ballad", "latin")
BASS_STYLES: tuple[str, ...] = ("roots", "root_fifth", "walking", "octave")
COMPING_STYLES: tuple[str, ...] = ("block", "strum", "arpeggio", "syncopated")

COMPING_PROGRAMS: dict[str, tuple[int, ...]] = {
    "guitar": (24, 25, 26, 27, 28, 29, 30),  # nylon, steel, jazz, clean, muted, overdriven, distortion
    "piano": (0, 1, 2, 4, 5),
    "organ": (16, 17, 18, 19),
    "strings": (48, 49, 50),
    "pads": (88, 89, 90, 91, 94, 95),
    "brass": (61, 62),
}
"""GM programs (0-based) of the comping part, by family."""

LEAD_PROGRAMS: dict[str, tuple[int, ...]] = {
    "voice": (52, 53, 54, 85),  # choir aahs, voice oohs, synth voice, solo vox
    "sax": (64, 65, 66, 67),
    "synth": (80, 81, 82, 83, 84),  # square, saw, calliope, chiff, charang (not 86/87: they add other pitches)
    "guitar": (30, 29),
    "flute": (73,),
    "trumpet": (56,),
}
"""GM programs (0-based) of the lead line, by family."""

_LEAD_RANGE = {"voice": (57, 79), "sax": (56, 80), "synth": (60, 84), "guitar": (55, 84), "flute": (67, 91)}
_LEAD_RANGE["trumpet"] = (58, 82)
_STYLE_TEMPO = {
    "rock": (90, 150),
    "pop": (80, 130),
    "funk": (86, 118),
    "shuffle": (80, 140),
    "ballad": (56, 84),
    "latin": (110, 150),
}
_BASS_BY_STYLE = {  # weights over BASS_STYLES
    "rock": (0.5, 0.2, 0.0, 0.3),
    "pop": (0.4, 0.3, 0.05, 0.25),
    "funk": (0.1, 0.2, 0.1, 0.6),
    "shuffle": (0.15, 0.35, 0.5, 0.0),
    "ballad": (0.55, 0.4, 0.05, 0.0),
    "latin": (0.1, 0.8, 0.1, 0.0),
}
_COMPING_BY_FAMILY = {  # weights over COMPING_STYLES
    "guitar": (0.15, 0.5, 0.2, 0.15),
    "piano": (0.3, 0.0, 0.3, 0.4),
    "organ": (0.6, 0.0, 0.0, 0.4),
    "strings": (0.85, 0.0, 0.15, 0.0),
    "pads": (0.9, 0.0, 0.1, 0.0),
    "brass": (0.4, 0.0, 0.0, 0.6),
}
# chord scales (intervals above the root) for the lead's non-chord tones, by quality
_SCALES = {
    "maj": (0, 2, 4, 5, 7, 9, 11),
    "min": (0, 2, 3, 5, 7, 8, 10),
    "maj7": (0, 2, 4, 5, 7, 9, 11),
    "min7": (0, 2, 3, 5, 7, 9, 10),
    "7": (0, 2, 4, 5, 7, 9, 10),
    "maj6": (0, 2, 4, 5, 7, 9, 11),
    "min6": (0, 2, 3, 5, 7, 9, 10),
    "dim": (0, 2, 3, 5, 6, 8, 9, 11),
    "aug": (0, 2, 4, 6, 8, 10),
    "sus4": (0, 2, 5, 7, 9, 10),
    "sus2": (0, 2, 5, 7, 9, 11),
    "hdim7": (0, 1, 3, 5, 6, 8, 10),
    "dim7": (0, 2, 3, 5, 6, 8, 9, 11),
}
_DEGREE = {1: "b2", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5", 8: "#5", 9: "6", 10: "b7", 11: "7"}
# GM drum notes
KICK, SIDESTICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOMS = (50, 48, 47, 45, 43, 41)  # high to low
_KITS = (0, 8, 16, 24, 25, 32, 40)  # GM2 kits TimGM6mb, FluidR3 and MuseScore all have
_ROLE_LEVEL_DB = {"lead": 0.0, "drums": -1.0, "bass": -2.0, "comping": -4.0, "other": -6.0}


# --------------------------------------------------------------------------------------------------- structure


@dataclass
class Arrangement:
    """A band arrangement over a labelled chord progression (see the module docstring).

    Attributes
    ----------
    parts : ``{role: pretty_midi.PrettyMIDI}`` for the roles present (subset of :data:`ROLES`); a role may hold
        several instruments (a kit and a percussion part; two comping instruments). Times in seconds.
    intervals : float64 ``(n, 2)``, start/end of each label in seconds, contiguous from 0 to :attr:`duration`.
    labels : ``n`` Harte labels; ``N`` for silence, drums only, and the release tail.
    tempo : mean tempo in BPM (beats per minute).
    meter : beats per bar (4 or 3).
    beats : float64 ``(n_beats,)``, the time in seconds of every beat the parts were placed on.
    downbeats : float64 ``(n_bars,)``, the first beat of every bar (a subset of ``beats``).
    duration : seconds to render (the end of the last label).
    params : every choice drawn (styles, programs, patterns, tempo, ...), JSON-serialisable.
    """

    parts: dict[str, pretty_midi.PrettyMIDI]
    intervals: np.ndarray
    labels: list[str]
    tempo: float
    meter: int
    beats: np.ndarray
    downbeats: np.ndarray
    duration: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def beat_numbers(self) -> np.ndarray:
        """int ``(n_beats,)``: position of each beat in its bar, 1 = downbeat (madmom's convention)."""
        return (np.arange(len(self.beats)) % self.meter + 1).astype(np.int64)

    @property
    def programs(self) -> list[int]:
        """GM programs of the pitched parts (drums not listed)."""
        return [i.program for pm in self.parts.values() for i in pm.instruments if not i.is_drum]

    def midi(self) -> pretty_midi.PrettyMIDI:
        """All parts merged into one ``PrettyMIDI`` (e.g. to write a ``.mid``; pitch bends are kept per instrument)."""
        import copy

        import pretty_midi

        out = pretty_midi.PrettyMIDI(initial_tempo=self.tempo)
        for role in ROLES:
            if role in self.parts:
                out.instruments.extend(copy.deepcopy(self.parts[role].instruments))
        return out


class _Grid:
    """Beat grid: ``bounds[k]`` is the time of beat ``k`` (``bounds[-1]`` the end of the last beat)."""

    def __init__(self, bounds: np.ndarray, meter: int, swing: float) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.n = len(self.bounds) - 1
        self.meter = meter
        self.swing = swing

    def swung(self, frac: float) -> float:
        s = self.swing
        return frac * s / 0.5 if frac <= 0.5 else s + (frac - 0.5) * (1.0 - s) / 0.5

    def time(self, x: float) -> float:
        """Seconds at beat position ``x`` (beats from 0; 8ths and 16ths swung by ``swing``)."""
        k = int(math.floor(x + 1e-9))
        if k >= self.n:
            return float(self.bounds[-1] + (x - self.n) * (self.bounds[-1] - self.bounds[-2]))
        k = max(k, 0)
        f = self.swung(min(max(x - k, 0.0), 1.0))
        return float(self.bounds[k] + f * (self.bounds[k + 1] - self.bounds[k]))

    def beat_len(self, x: float) -> float:
        k = min(max(int(math.floor(x + 1e-9)), 0), self.n - 1)
        return float(self.bounds[k + 1] - self.bounds[k])


@dataclass
class _Chord:
    b0: int
    b1: int
    label: str
    root: int | None = None
    pcs: tuple[int, ...] = ()
    bass_pc: int | None = None
    quality: str = ""

    @property
    def is_n(self) -> bool:
        return self.root is None


def _chord(b0: int, b1: int, label: str) -> _Chord:
    root, _, bass = parse(label)
    if root is None:
        return _Chord(b0, b1, "N")
    quality = label.split(":", 1)[1].split("/", 1)[0].split("(", 1)[0] if ":" in label else "maj"
    pcs = tuple(sorted(set(pitch_classes(label)) | {bass}))
    return _Chord(b0, b1, label, root, pcs, bass, quality)


class _Ctx:
    def __init__(self, grid: _Grid, chords: list[_Chord], style: str, phrase_bars: int, section_bars: int) -> None:
        self.grid = grid
        self.chords = chords
        self.style = style
        self.meter = grid.meter
        self.n_beats = grid.n
        self.n_bars = int(math.ceil(grid.n / grid.meter))
        self.phrase_bars = phrase_bars
        self.section_bars = section_bars
        self.index = np.zeros(grid.n, dtype=np.int64)  # chord index of each beat
        for j, c in enumerate(chords):
            self.index[c.b0 : c.b1] = j

    def chord_at(self, x: float) -> _Chord:
        return self.chords[int(self.index[min(max(int(math.floor(x + 1e-9)), 0), self.n_beats - 1)])]

    def t(self, x: float) -> float:
        return self.grid.time(x)


def _note(inst: pretty_midi.Instrument, pitch: int, vel: float, t0: float, t1: float) -> None:
    import pretty_midi

    if t1 - t0 < 0.01 or not 0 <= pitch <= 127:
        return
    inst.notes.append(pretty_midi.Note(int(np.clip(round(vel), 1, 127)), int(pitch), float(t0), float(t1)))


def _pick(rng: np.random.Generator, options: tuple | list, weights: tuple | list | None = None) -> Any:
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        return options[int(rng.choice(len(options), p=w / w.sum()))]
    return options[int(rng.integers(len(options)))]


def _jitter(rng: np.random.Generator, sigma: float) -> float:
    return float(np.clip(rng.normal(0.0, sigma), -3 * sigma, 3 * sigma)) if sigma > 0 else 0.0


# --------------------------------------------------------------------------------------------------- drums


def _drum_bar(style: str, meter: int, bar: int, v: dict) -> list[tuple[float, int, float]]:
    """One bar of ``style`` as ``(position in beats, GM drum note, velocity)``; ``v`` holds the piece's variants."""
    hits: list[tuple[float, int, float]] = []
    eighths = [k * 0.5 for k in range(2 * meter)]
    sixteenths = [k * 0.25 for k in range(4 * meter)]
    cym = RIDE if v["ride"] else HAT
    if style in ("rock", "pop"):
        if style == "pop" and v["sixteenths"]:
            hits += [(p, cym, (88, 50, 70, 50)[k % 4]) for k, p in enumerate(sixteenths)]
        else:
            hits += [(p, cym, 90 if k % 2 == 0 else 62) for k, p in enumerate(eighths)]
        if meter == 4:
            kicks = [0.0, 2.0] if style == "rock" else [0.0, 1.5, 2.0]
            if v["busy"]:
                kicks.append(2.5)
            snares = [1.0, 3.0]
        else:
            kicks = [0.0, 1.5] if v["busy"] else [0.0]
            snares = [1.0, 2.0] if style == "rock" else [2.0]
        hits += [(p, KICK, 105) for p in kicks] + [(p, SNARE, 110) for p in snares]
        if style == "pop" and v["clap"]:
            hits += [(p, CLAP, 90) for p in snares]
        if v["open_hat"] and not v["ride"]:
            hits = [h for h in hits if not (h[0] == meter - 0.5 and h[1] == HAT)] + [(meter - 0.5, OPEN_HAT, 80)]
    elif style == "funk":
        hits += [(p, HAT, (95, 45, 75, 45)[k % 4]) for k, p in enumerate(sixteenths)]
        if meter == 4:
            kicks = [0.0, 0.75, 2.5, 2.75] if v["busy"] else [0.0, 1.75, 2.5]
            snares, ghosts = [1.0, 3.0], [1.75, 2.25, 3.75] if not v["busy"] else [0.5, 2.25, 3.25, 3.75]
        else:
            kicks, snares, ghosts = [0.0, 0.75, 1.75], [1.0, 2.0], [1.25, 2.75]
        hits += [(p, KICK, 108) for p in kicks] + [(p, SNARE, 112) for p in snares]
        hits += [(p, SNARE, 34) for p in ghosts if p not in kicks]
        if v["open_hat"]:
            hits = [h for h in hits if not (h[0] == meter - 0.5 and h[1] == HAT)] + [(meter - 0.5, OPEN_HAT, 85)]
    elif style == "shuffle":
        if meter == 4:
            hits += [(p, cym, 92 if k % 2 == 0 else 70) for k, p in enumerate(eighths)]
            hits += [(0.0, KICK, 100), (2.0, KICK, 95), (1.0, SNARE, 108), (3.0, SNARE, 108)]
            if v["ride"]:
                hits += [(1.0, PEDAL_HAT, 70), (3.0, PEDAL_HAT, 70)]
        else:  # jazz waltz: ding, ding-da, ding-da on the ride; hat foot on 2 and 3
            hits += [(0.0, RIDE, 95), (1.0, RIDE, 85), (1.5, RIDE, 65), (2.0, RIDE, 85), (2.5, RIDE, 65)]
            hits += [(0.0, KICK, 80), (1.0, PEDAL_HAT, 65), (2.0, PEDAL_HAT, 65)]
            if v["busy"]:
                hits += [(2.5, SNARE, 45)]
    elif style == "ballad":
        if v["ride"]:
            hits += [(float(k), RIDE, 70) for k in range(meter)]
        else:
            hits += [(p, HAT, 62 if k % 2 == 0 else 42) for k, p in enumerate(eighths)]
        back = SIDESTICK if v["cross_stick"] else SNARE
        if meter == 4:
            hits += [(0.0, KICK, 85), (2.5, KICK, 70)]
            hits += [(2.0, back, 90)] if v["half_time"] else [(1.0, back, 85), (3.0, back, 85)]
        else:
            hits += [(0.0, KICK, 85), (1.0, back, 70), (2.0, back, 70)]
    elif style == "latin":
        shaker = 70 if v["shaker"] else HAT
        hits += [(p, shaker, 70 if k % 2 == 0 else 50) for k, p in enumerate(eighths)]
        if meter == 4:  # bossa nova: kick 1, 2&, 3, 4&; two-bar bossa clave on the cross-stick
            hits += [(p, KICK, 90 if p in (0.0, 2.0) else 70) for p in (0.0, 1.5, 2.0, 3.5)]
            rim = (0.0, 1.5, 3.0) if bar % 2 == 0 else (1.0, 2.5)
        else:
            hits += [(0.0, KICK, 90), (1.5, KICK, 70)]
            rim = (1.0, 2.5) if bar % 2 == 0 else (0.5, 2.0)
        hits += [(p, SIDESTICK, 85) for p in rim]
    else:  # pragma: no cover - styles are validated
        raise ParameterError(f"unknown drum style {style!r}")
    return hits


def _percussion_bar(kind: str, meter: int, bar: int) -> list[tuple[float, int, float]]:
    if kind == "tambourine":
        return [(float(k), 54, 75) for k in range(1, meter, 2)] if meter == 4 else [(1.0, 54, 70), (2.0, 54, 70)]
    if kind == "shaker":
        return [(k * 0.5, 82, 70 if k % 2 else 50) for k in range(2 * meter)]
    if kind == "cowbell":
        return [(float(k), 56, 80 if k == 0 else 60) for k in range(meter)]
    # son clave (3-2) on the claves
    if meter == 4:
        return [(p, 75, 85) for p in ((0.0, 1.5, 3.0) if bar % 2 == 0 else (1.0, 2.0))]
    return [(p, 75, 85) for p in ((0.0, 1.5) if bar % 2 == 0 else (1.0,))]


def _drums(rng: np.random.Generator, ctx: _Ctx, style: str, play: np.ndarray) -> tuple[list, dict]:
    """The drum kit (and maybe a percussion part) over bars where ``play[bar]``."""
    import pretty_midi

    meter = ctx.meter
    v = {
        "ride": bool(rng.random() < (0.5 if style == "shuffle" else 0.2)),
        "busy": bool(rng.random() < 0.4),
        "sixteenths": bool(rng.random() < 0.5),
        "clap": bool(rng.random() < 0.3),
        "open_hat": bool(rng.random() < 0.3),
        "cross_stick": bool(rng.random() < 0.6),
        "half_time": bool(rng.random() < 0.4),
        "shaker": bool(rng.random() < 0.5),
    }
    kit_program = int(_pick(rng, _KITS, (6, 2, 1, 1, 1, 2, 2)))
    if style in ("ballad", "shuffle", "latin") and rng.random() < 0.4:
        kit_program = _pick(rng, (32, 40))  # jazz / brush kits
    timing_ms = float(rng.uniform(2.0, 8.0))
    vel_sd = float(rng.uniform(4.0, 10.0))
    p_fill = float(rng.uniform(0.5, 1.0))
    fill_beats = int(_pick(rng, (1, 2)) if meter == 4 else 1)
    crash = int(_pick(rng, (CRASH, 57)))
    percussion = None
    if rng.random() < 0.3:
        percussion = str(_pick(rng, ("tambourine", "shaker", "cowbell", "claves")))
        if style == "latin":
            percussion = str(_pick(rng, ("claves", "shaker", "cowbell")))
    kit = pretty_midi.Instrument(program=kit_program, is_drum=True, name="drums")
    perc = pretty_midi.Instrument(program=kit_program, is_drum=True, name="percussion")
    triplets = style == "shuffle"
    n_fills = 0
    after_fill = False
    for bar in range(ctx.n_bars):
        if not play[bar]:
            after_fill = False
            continue
        x0 = bar * meter
        bar_len = min(meter, ctx.n_beats - x0)
        last_of_phrase = (bar + 1) % ctx.phrase_bars == 0 and bar + 1 < ctx.n_bars
        section_end = (bar + 1) % ctx.section_bars == 0 and bar + 1 < ctx.n_bars
        fill = bar_len == meter and (section_end or (last_of_phrase and rng.random() < p_fill))
        fill_start = meter - fill_beats if fill else meter + 1
        hits = [h for h in _drum_bar(style, meter, bar, v) if h[0] < min(bar_len, fill_start) - 1e-9]
        starts_section = bar % ctx.section_bars == 0 and (bar > 0 or rng.random() < 0.6)
        if starts_section or after_fill:
            hits = [h for h in hits if not (h[0] == 0.0 and h[1] in (HAT, RIDE))]
            hits += [(0.0, crash, 110), (0.0, KICK, 110)]
        after_fill = fill
        if fill:
            n_fills += 1
            step = 1 / 3 if triplets else 0.25
            n = int(round(fill_beats / step))
            drums_down = [SNARE, SNARE, *TOMS]
            for k in range(n):
                note = drums_down[min(int(k * len(drums_down) / n), len(drums_down) - 1)]
                hits.append((fill_start + k * step, note, 80 + 35 * k / max(n - 1, 1)))
            hits.append((float(fill_start), KICK, 95))
        for pos, note, vel in hits:
            x = x0 + pos
            if triplets and abs(pos * 3 - round(pos * 3)) < 1e-6 and abs(pos * 2 - round(pos * 2)) > 1e-6:
                t0 = ctx.grid.bounds[int(x)] + (x - int(x)) * ctx.grid.beat_len(x)  # fill triplets: unswung grid
            else:
                t0 = ctx.t(x)
            t0 = max(0.0, t0 + _jitter(rng, timing_ms / 1000))
            accent = 1.08 if abs(pos - round(pos)) < 1e-9 else 1.0
            _note(kit, note, vel * accent + rng.normal(0, vel_sd), t0, t0 + 0.12)
        if percussion:
            for pos, note, vel in _percussion_bar(percussion, meter, bar):
                if pos < bar_len - 1e-9:
                    t0 = max(0.0, ctx.t(x0 + pos) + _jitter(rng, timing_ms / 1000))
                    _note(perc, note, vel + rng.normal(0, vel_sd), t0, t0 + 0.1)
    params = {
        "style": style,
        "kit_program": kit_program,
        "variants": v,
        "timing_ms": timing_ms,
        "velocity_sd": vel_sd,
        "p_fill": p_fill,
        "fill_beats": fill_beats,
        "fills": n_fills,
        "crash": crash,
        "percussion": percussion,
    }
    return [i for i in (kit, perc) if i.notes], params


# --------------------------------------------------------------------------------------------------- bass


def _bass_pitch(pc: int, low: int) -> int:
    return low + (pc - low) % 12


def _nearest(pcs: tuple[int, ...] | list[int], target: float, lo: int, hi: int, exclude: int | None = None) -> int:
    cands = [p for p in range(lo, hi + 1) if p % 12 in pcs and p != exclude]
    if not cands:
        cands = [p for p in range(lo, hi + 1) if p % 12 in pcs]
    return min(cands, key=lambda p: (abs(p - target), p))


def _fifth(c: _Chord) -> int:
    """Pitch class of the chord's fifth (or the tone closest to one)."""
    ivs = sorted({(p - c.root) % 12 for p in c.pcs})  # type: ignore[operator]
    for iv in (7, 6, 8, 5, 9):
        if iv in ivs:
            return (c.root + iv) % 12  # type: ignore[operator]
    return c.bass_pc  # type: ignore[return-value]


def _bass(rng: np.random.Generator, ctx: _Ctx, style: str) -> tuple[Any, dict]:
    import pretty_midi

    meter = ctx.meter
    pattern = str(_pick(rng, BASS_STYLES, _BASS_BY_STYLE[ctx.style]))
    program = int(_pick(rng, BASS_PROGRAMS))
    low = int(_pick(rng, (28, 31, 33)))
    rhythm = "quarters"
    if pattern == "roots":
        rhythm = str(_pick(rng, ("held", "quarters", "eighths"), (0.35, 0.35, 0.3)))
        if ctx.style == "ballad":
            rhythm = "held"
    elif pattern == "root_fifth":
        rhythm = "bossa" if ctx.style == "latin" and meter == 4 else "halves"
    elif pattern == "octave":
        rhythm = "funk" if ctx.style == "funk" and meter == 4 else "eighths"
    legato = float(rng.uniform(0.6, 0.97))
    timing_ms = float(rng.uniform(2.0, 8.0))
    p_approach = float(rng.uniform(0.3, 0.8)) if pattern == "walking" else 0.0
    inst = pretty_midi.Instrument(program=program, name="bass")
    # (position in bar, beats, token): B = the label's bass note, 5 = fifth, 8 = octave above the bass note
    templates = {
        "held": [(float(b), float(meter), "B") for b in (0,)],
        "quarters": [(float(b), 1.0, "B") for b in range(meter)],
        "eighths": [(k * 0.5, 0.5, "B") for k in range(2 * meter)],
        "halves": [(0.0, 2.0, "B"), (2.0, 2.0, "5")] if meter == 4 else [(0.0, 2.0, "B"), (2.0, 1.0, "5")],
        "bossa": [(0.0, 1.5, "B"), (1.5, 0.5, "5"), (2.0, 1.5, "B"), (3.5, 0.5, "5")],
        "funk": [
            (0.0, 0.5, "B"),
            (0.75, 0.25, "B"),
            (1.5, 0.5, "8"),
            (2.0, 0.5, "B"),
            (2.75, 0.25, "5"),
            (3.5, 0.5, "8"),
        ],
    }
    events: list[tuple[float, float, int, float, bool]] = []  # (x, beats, pitch, velocity, non-chord-tone)
    prev = _bass_pitch(0, low)
    n_nct = 0
    for j, c in enumerate(ctx.chords):
        if c.is_n:
            continue
        home = _bass_pitch(c.bass_pc, low)  # type: ignore[arg-type]
        nxt = ctx.chords[j + 1] if j + 1 < len(ctx.chords) else None
        if pattern == "walking":
            line: list[tuple[float, float, int, bool]] = []
            cur = home
            for b in range(c.b0, c.b1):
                if b == c.b0 or b % meter == 0:
                    cur = home if abs(home - prev) <= 7 or home + 12 > low + 24 else home + 12
                else:
                    target = _bass_pitch(nxt.bass_pc, low) if nxt is not None and not nxt.is_n else home
                    direction = np.sign(target - prev) or _pick(rng, (-1, 1))
                    cur = _nearest(c.pcs, prev + direction * float(rng.uniform(2, 5)), low, low + 24, exclude=prev)
                last = b == c.b1 - 1
                if last and nxt is not None and not nxt.is_n and rng.random() < p_approach:
                    target = _bass_pitch(nxt.bass_pc, low)  # type: ignore[arg-type]
                    approach = target + _pick(rng, (-1, 1)) if rng.random() < 0.6 else target + _pick(rng, (-2, 2))
                    line.append((b, 0.5, cur, False))
                    line.append((b + 0.5, 0.5, int(np.clip(approach, low - 1, low + 25)), True))
                else:
                    line.append((b, 1.0, cur, False))
                prev = cur
            for x, d, p, nct in line:
                n_nct += nct
                events.append((x, d, p, 95 if x % meter == 0 else 82, nct))
            continue
        tpl = templates[rhythm]
        bar0 = c.b0 // meter
        for bar in range(bar0, (c.b1 - 1) // meter + 1):
            for pos, d, tok in tpl:
                x = bar * meter + pos
                if x < c.b0 - 1e-9 or x >= c.b1 - 1e-9:
                    continue
                if abs(x - c.b0) < 1e-9 or pos == 0.0:
                    tok = "B"  # the bass rule: the label's bass note at the chord start and on downbeats
                pitch = home
                if tok == "5":
                    f = _bass_pitch(_fifth(c), low)
                    pitch = f if f > home else f + 12 if f + 12 <= low + 19 else f
                elif tok == "8":
                    pitch = home + 12
                events.append((x, d, pitch, 100 if pos == 0.0 else 85, False))
        if not any(abs(e[0] - c.b0) < 1e-9 for e in events):  # chord starts where the template has no note
            events.append((float(c.b0), tpl[0][1], home, 95, False))
        prev = home
    events.sort()
    for k, (x, d, pitch, vel, _nct) in enumerate(events):
        c = ctx.chord_at(x)
        end_x = min(x + d * legato, c.b1)
        if k + 1 < len(events):
            end_x = min(end_x, events[k + 1][0])
        t0 = max(ctx.t(x) + abs(_jitter(rng, timing_ms / 1000)), ctx.t(c.b0))
        t1 = min(ctx.t(end_x), ctx.t(c.b1))
        if k + 1 < len(events):
            t1 = min(t1, ctx.t(events[k + 1][0]) - 0.005)
        _note(inst, pitch, vel + rng.normal(0, 6), t0, t1)
    params = {
        "program": program,
        "pattern": pattern,
        "rhythm": rhythm,
        "low": low,
        "legato": legato,
        "timing_ms": timing_ms,
        "p_approach": p_approach,
        "non_chord_tones": n_nct,
    }
    return inst, params


# --------------------------------------------------------------------------------------------------- comping


def _candidate_voicings(label: str, guitar: bool, lo: int, hi: int) -> list[list[int]]:
    if guitar:
        shapes = guitar_voicings(label)[:8]
        if shapes:
            return [guitar_pitches(s) for s in shapes]
    n = len(parse(label)[1])
    cands = []
    for octave in (3, 4):
        for inv in range(n):
            cands.append(close_voicing(label, octave=octave, inversion=inv))
            cands.append(open_voicing(label, octave=octave - 1, inversion=inv))
    ok = [v for v in cands if v[0] >= lo and v[-1] <= hi]
    return ok or [close_voicing(label, octave=4)]


def _comping(
    rng: np.random.Generator, ctx: _Ctx, family: str, style: str | None, name: str, register: tuple[int, int]
) -> tuple[Any, dict]:
    import pretty_midi

    meter = ctx.meter
    program = int(_pick(rng, COMPING_PROGRAMS[family]))
    if style is None:
        style = str(_pick(rng, COMPING_STYLES, _COMPING_BY_FAMILY[family]))
    guitar = family == "guitar"
    inst = pretty_midi.Instrument(program=program, name=name)
    timing_ms = float(rng.uniform(2.0, 10.0))
    base_vel = float(rng.uniform(60, 100))
    params: dict[str, Any] = {"family": family, "program": program, "style": style, "timing_ms": timing_ms}
    # rhythm of each style, positions in the bar
    if style == "block":
        restrike = str(_pick(rng, ("chord", "bar", "half")) if family not in ("pads", "strings") else "chord")
        hits = [(0.0, "")] if restrike != "half" or meter == 3 else [(0.0, ""), (2.0, "")]
        params["restrike"] = restrike
    elif style == "strum":
        options4 = [
            [(0, "D"), (1, "D"), (1.5, "U"), (2.5, "U"), (3, "D"), (3.5, "U")],
            [(0, "D"), (1, "D"), (2, "D"), (3, "D")],
            [(k * 0.5, "DU"[k % 2]) for k in range(8)],
            [(0, "D"), (1.5, "U"), (2, "D"), (3, "D"), (3.5, "U")],
        ]
        options3 = [
            [(0, "D"), (1, "D"), (1.5, "U"), (2, "D"), (2.5, "U")],
            [(0, "D"), (1, "D"), (2, "D")],
            [(k * 0.5, "DU"[k % 2]) for k in range(6)],
        ]
        k = int(rng.integers(len(options4 if meter == 4 else options3)))
        hits = [(float(p), d) for p, d in (options4 if meter == 4 else options3)[k]]
        params["strum_pattern"] = k
        params["string_delay_ms"] = float(rng.uniform(4.0, 14.0))
        params["muted"] = bool(program in (28, 29, 30) and rng.random() < 0.5)
    elif style == "arpeggio":
        step = 0.5 if ctx.grid.beat_len(0) < 0.75 else float(_pick(rng, (0.5, 0.25)))
        hits = [(k * step, "") for k in range(int(round(meter / step)))]
        params["step"] = step
        params["order"] = str(_pick(rng, ("up", "updown", "alberti", "picking")))
        params["ring"] = bool(guitar or rng.random() < 0.6)
    else:  # syncopated stabs
        options4 = [[0, 1.5], [0.5, 1.5, 2.5, 3.5], [1, 3], [0, 0.75, 1.5, 2.25, 2.75, 3.5], [0, 1.5, 3]]
        options3 = [[0, 1.5], [0.5, 1.5, 2.5], [1, 2], [0, 0.75, 1.5, 2.5]]
        k = int(rng.integers(len(options4 if meter == 4 else options3)))
        hits = [(float(p), "") for p in (options4 if meter == 4 else options3)[k]]
        params["stab_pattern"] = k
        params["stab_beats"] = float(rng.uniform(0.2, 0.5))
    lo, hi = register
    prev_mean: float | None = None
    left_hand = family == "piano" and style != "strum" and rng.random() < 0.5
    params["left_hand"] = left_hand
    sd = params.get("string_delay_ms", 0.0) / 1000
    for c in ctx.chords:
        if c.is_n:
            continue
        cands = _candidate_voicings(c.label, guitar, lo, hi)
        if prev_mean is None:
            voicing = cands[int(rng.integers(min(3, len(cands))))]
        else:
            costs = [abs(float(np.mean(v)) - prev_mean) + rng.uniform(0, 3) for v in cands]
            voicing = cands[int(np.argmin(costs))]
        prev_mean = float(np.mean(voicing))
        voicing = sorted(voicing)
        if left_hand:
            voicing = [_bass_pitch(c.bass_pc, 36), *[p for p in voicing if p > _bass_pitch(c.bass_pc, 36) + 4]]
        # onsets of this chord
        xs: list[tuple[float, str]] = []
        for bar in range(c.b0 // meter, (c.b1 - 1) // meter + 1):
            for pos, tag in hits:
                x = bar * meter + pos
                if c.b0 - 1e-9 <= x < c.b1 - 1e-9:
                    xs.append((x, tag))
        if style == "block" and params["restrike"] == "chord":
            xs = []
        if not xs or abs(xs[0][0] - c.b0) > 1e-9:
            xs.insert(0, (float(c.b0), "D"))
        t_end = ctx.t(c.b1)
        t_start = ctx.t(c.b0)
        for k, (x, tag) in enumerate(xs):
            t_next = ctx.t(xs[k + 1][0]) if k + 1 < len(xs) else t_end
            t0 = max(ctx.t(x) + _jitter(rng, timing_ms / 1000), t_start)
            accent = 1.1 if abs(x - round(x)) < 1e-9 else 0.9
            vel = base_vel * accent + rng.normal(0, 5)
            if style == "block":
                for p in voicing:
                    _note(inst, p, vel, t0, min(t_next, t_end))
            elif style == "strum":
                strings = voicing if tag != "U" else voicing[::-1][: int(rng.integers(3, 5))]
                dur_end = min(t_next, t_end)
                if params["muted"]:
                    dur_end = min(dur_end, t0 + 0.35 * ctx.grid.beat_len(x))
                for s, p in enumerate(strings):
                    ts = min(t0 + s * sd * float(rng.uniform(0.7, 1.3)), dur_end - 0.02)
                    _note(inst, p, vel * (1.0 - 0.04 * s) * (0.85 if tag == "U" else 1.0), ts, dur_end)
            elif style == "arpeggio":
                n = len(voicing)
                order = params["order"]
                j = int(round((x - c.b0) / params["step"]))
                if order == "up":
                    idx = j % n
                elif order == "updown":
                    cycle = [*range(n), *range(n - 2, 0, -1)]
                    idx = cycle[j % len(cycle)]
                elif order == "alberti":
                    idx = (0, n - 1, min(1, n - 1), n - 1)[j % 4]
                else:  # picking: bass note, then the upper tones
                    idx = 0 if j % n == 0 else 1 + (j - 1) % max(n - 1, 1)
                    idx = min(idx, n - 1)
                t1 = t_end if params["ring"] else min(t_next + 0.5 * (t_next - t0), t_end)
                _note(inst, voicing[idx], vel * (1.1 if idx == 0 else 0.95), t0, t1)
            else:
                t1 = min(t0 + params["stab_beats"] * ctx.grid.beat_len(x), t_next, t_end)
                for p in voicing:
                    _note(inst, p, vel, t0, t1)
    return inst, params


# --------------------------------------------------------------------------------------------------- lead

_CELLS = {  # rhythm cells starting on a beat: (name, [(offset, beats)], length in beats)
    "q": ([(0.0, 1.0)], 1),
    "h": ([(0.0, 2.0)], 2),
    "ee": ([(0.0, 0.5), (0.5, 0.5)], 1),
    "dqe": ([(0.0, 1.5), (1.5, 0.5)], 2),
    "eqe": ([(0.0, 0.5), (0.5, 1.0), (1.5, 0.5)], 2),
    "re": ([(0.5, 0.5)], 1),
    "r": ([], 1),
}


def _scale_tones(c: _Chord, lo: int, hi: int) -> list[int]:
    scale = _SCALES.get(c.quality, _SCALES["maj"])
    pcs = {(c.root + i) % 12 for i in scale} | set(c.pcs)  # type: ignore[operator]
    return [p for p in range(lo - 2, hi + 3) if p % 12 in pcs]


def _lead(rng: np.random.Generator, ctx: _Ctx, lo_comp: int) -> tuple[Any, dict]:
    import pretty_midi

    meter = ctx.meter
    family = str(_pick(rng, tuple(LEAD_PROGRAMS), (0.35, 0.2, 0.15, 0.1, 0.1, 0.1)))
    program = int(_pick(rng, LEAD_PROGRAMS[family]))
    lo, hi = _LEAD_RANGE[family]
    lo = max(lo, lo_comp)
    density = float(rng.uniform(0.3, 0.9))
    weights = {
        "q": 1.0,
        "h": 1.2 - density,
        "ee": 0.3 + density,
        "dqe": 0.5,
        "eqe": 0.2 + 0.5 * density,
        "re": 0.3,
        "r": 0.5 - 0.3 * density,
    }
    names = list(_CELLS)
    p_rest_phrase = float(rng.uniform(0.0, 0.3))
    p_sus = float(rng.uniform(0.1, 0.5))
    legato = float(rng.uniform(0.75, 1.0))
    timing_ms = float(rng.uniform(5.0, 15.0))
    notes: list[list] = []  # [x0, beats, pitch, strong, phrase id]
    phrases = 0
    for bar0 in range(0, ctx.n_bars, ctx.phrase_bars):
        last = bar0 + ctx.phrase_bars >= ctx.n_bars
        if rng.random() < p_rest_phrase and not (last and phrases == 0):  # at least one phrase is sung
            continue
        phrases += 1
        x = bar0 * meter + int(_pick(rng, (0, 0, 1)))
        x_end = min((bar0 + ctx.phrase_bars) * meter, ctx.n_beats) - int(_pick(rng, (1, 1, 2)))
        while x < x_end:
            ok = [n for n in names if _CELLS[n][1] <= x_end - x]
            if not ok:
                break
            name = _pick(rng, ok, [weights[n] for n in ok])
            for off, d in _CELLS[name][0]:
                xn = x + off
                if not ctx.chord_at(xn).is_n:
                    notes.append([xn, d, None, abs(xn - round(xn)) < 1e-9, phrases])
            x += _CELLS[name][1]
        if notes and notes[-1][4] == phrases:  # the phrase's last note is held to its end
            notes[-1][1] = max(notes[-1][1], x_end - notes[-1][0])
    # skeleton: chord tones on the beats, moving by small steps along an arch per phrase
    centre = (lo + hi) / 2
    prev = _nearest(ctx.chord_at(notes[0][0]).pcs, centre, lo, hi) if notes else int(centre)
    for n in notes:
        if not n[3]:
            continue
        c = ctx.chord_at(n[0])
        same = [m for m in notes if m[4] == n[4]]
        progress = (n[0] - same[0][0]) / max(same[-1][0] - same[0][0], 1.0)
        aim = centre + (hi - lo) * 0.3 * (math.sin(math.pi * progress) - 0.3)
        target = prev + float(np.clip((aim - prev) * 0.4 + rng.normal(0, 2.5), -5, 5))
        n[2] = _nearest(c.pcs, target, lo, hi, exclude=prev if rng.random() < 0.6 else None)
        prev = n[2]
    # weak notes: passing, neighbour, approach or chord tones between the skeleton notes
    prev = None
    kinds = {"passing": 0, "neighbour": 0, "approach": 0, "chord": 0, "suspension": 0}
    for k, n in enumerate(notes):
        if n[3]:
            prev = n[2]
            continue
        c = ctx.chord_at(n[0])
        scale = _scale_tones(c, lo, hi)
        a = prev if prev is not None else _nearest(c.pcs, centre, lo, hi)
        b = next((m[2] for m in notes[k + 1 :] if m[3] and m[4] == n[4]), None)
        between = [p for p in scale if min(a, b) < p < max(a, b)] if b is not None else []
        u = rng.random()
        if between and len(between) <= 2 and u < 0.8:
            n[2] = between[0] if b > a else between[-1]  # type: ignore[operator]
            kinds["passing"] += 1
        elif b is not None and a == b and u < 0.7:
            up = [p for p in scale if p > a]
            down = [p for p in scale if p < a]
            n[2] = up[0] if up and (rng.random() < 0.5 or not down) else down[-1] if down else a
            kinds["neighbour"] += 1
        elif b is not None and u < 0.5:
            n[2] = min([p for p in scale if p != b], key=lambda p: (abs(abs(p - b) - 1.5), p))
            kinds["approach"] += 1
        else:
            n[2] = _nearest(c.pcs, a + rng.normal(0, 3), lo, hi)
            kinds["chord"] += 1
        prev = n[2]
    # suspensions: at a chord change the previous tone is held over, then resolves down by step
    for k in range(1, len(notes) - 1):
        n, p, q = notes[k], notes[k - 1], notes[k + 1]
        c = ctx.chord_at(n[0])
        if not (n[3] and n[0] == c.b0 and p[4] == n[4] == q[4] and ctx.chord_at(q[0]) is c):
            continue
        held = p[2]
        below = [held - 1, held - 2]
        if held % 12 not in c.pcs and any(b % 12 in c.pcs for b in below) and rng.random() < p_sus:
            n[2] = held
            q[2] = next(b for b in below if b % 12 in c.pcs)
            kinds["suspension"] += 1
    # notes and pitch bends
    inst = pretty_midi.Instrument(program=program, name=f"lead_{family}")
    bends_on = family in ("voice", "sax") or rng.random() < 0.4
    tuning = float(np.clip(rng.normal(0, 10), -25, 25))
    vib_rate = float(rng.uniform(4.5, 6.5))
    vib_depth = float(rng.uniform(15, 50)) if bends_on else 0.0
    p_scoop = float(rng.uniform(0.2, 0.6)) if bends_on else 0.0
    bend_events: list[tuple[float, float]] = [(0.0, tuning)]
    base_vel = float(rng.uniform(75, 105))
    last_t1 = 0.0
    prev_pitch = None
    for k, (x0, d, pitch, strong, _ph) in enumerate(notes):
        # loose timing, but never before the note's chord: the lead does not anticipate a label change
        t0 = max(ctx.t(x0) + _jitter(rng, timing_ms / 1000), last_t1 + 0.005, ctx.t(ctx.chord_at(x0).b0))
        t1 = ctx.t(x0 + d * legato)
        if k + 1 < len(notes):
            t1 = min(t1, ctx.t(notes[k + 1][0]) - 0.012)
        if t1 - t0 < 0.03:
            continue
        vel = base_vel * (1.08 if strong else 0.92) + rng.normal(0, 5)
        _note(inst, pitch, vel, t0, t1)
        last_t1 = t1
        if bends_on:
            glide = 0.0
            if prev_pitch is not None and 0 < abs(prev_pitch - pitch) <= 2 and rng.random() < 0.5:
                glide = 100.0 * (prev_pitch - pitch)  # portamento from the previous note
            elif rng.random() < p_scoop:
                glide = -float(rng.uniform(30, 150))  # scoop up from below
            g_len = float(rng.uniform(0.04, 0.12))
            delay = float(rng.uniform(0.12, 0.3))
            t = t0
            bend_events.append((t0, tuning + glide))
            while t < t1 - 0.01:
                t += 0.01
                cents = tuning + glide * max(0.0, 1.0 - (t - t0) / g_len) ** 2
                if t - t0 > delay:
                    ramp = min(1.0, (t - t0 - delay) / 0.2)
                    cents += vib_depth * ramp * math.sin(2 * math.pi * vib_rate * (t - t0 - delay))
                bend_events.append((t, cents))
        prev_pitch = pitch
    if not bends_on:
        bend_events = [(0.0, tuning)]
    inst.pitch_bends = [pretty_midi.PitchBend(_bend_value(c), float(t)) for t, c in bend_events]
    strong_total = sum(1 for n in notes if n[3])
    strong_ct = sum(1 for n in notes if n[3] and n[2] % 12 in ctx.chord_at(n[0]).pcs)
    params = {
        "family": family,
        "program": program,
        "range": [lo, hi],
        "density": density,
        "p_rest_phrase": p_rest_phrase,
        "p_suspension": p_sus,
        "legato": legato,
        "timing_ms": timing_ms,
        "phrases": phrases,
        "pitch_bends": bends_on,
        "tuning_cents": tuning,
        "vibrato_hz": vib_rate,
        "vibrato_cents": vib_depth,
        "p_scoop": p_scoop,
        "weak_note_kinds": kinds,
        "strong_chord_tone_share": strong_ct / strong_total if strong_total else 1.0,
    }
    return inst, params


def _bend_value(cents: float) -> int:
    """Pitch-bend value for ``cents`` at the GM default bend range of +-2 semitones (8192 = 200 cents)."""
    return int(np.clip(round(cents / 200.0 * 8192), -8192, 8191))


# --------------------------------------------------------------------------------------------------- arrange


def _seed_sequence(seed: int | np.random.SeedSequence | list[int]) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def _validate_labels(labels: list[str]) -> list[str]:
    out = []
    for lab in labels:
        try:
            parse(str(lab))
        except AnnotationError as exc:
            raise ParameterError(f"arrange() needs Harte chord labels or 'N': {exc}") from None
        out.append(str(lab).strip())
    return out


def _with_inversion(rng: np.random.Generator, label: str) -> str:
    root, intervals, bass = parse(label)
    if root is None or "/" in label or bass != root:
        return label
    choices = [i for i in intervals if i in (3, 4, 7, 10, 11)]
    if not choices:
        return label
    return f"{label}/{_DEGREE[int(_pick(rng, choices))]}"


def arrange(
    labels: list[str] | None = None,
    durations_or_intervals: np.ndarray | list | None = None,
    *,
    seed: int | np.random.SeedSequence | list[int],
    meter: int | None = None,
    tempo: float | None = None,
    style: str | None = None,
    n_chords: int | None = None,
    tail: float = 1.0,
) -> Arrangement:
    """A seeded band arrangement (3-7 parts: drums, bass, comping, lead, pad) over a chord progression.

    Parameters
    ----------
    labels : Harte chord labels (``N`` allowed). ``None``: ``n_chords`` labels from the functional random walk
        (p=0.75) or uniform over the 156 chords (:mod:`dlmir.data.progressions`). Labels come back with a Harte
        bass interval added when the piece draws inversions (see the module docstring's bass rule).
    durations_or_intervals : ``(n,)`` chord durations in **beats** (positive integers), or ``(n, 2)`` contiguous
        intervals in **seconds** (each chord is then given ``max(1, round(duration / beat))`` beats, stretched
        to fit it exactly, so the beat grid follows the given times; time before the first interval becomes
        ``N``). ``None``: a harmonic rhythm is drawn (a chord per bar, per two bars, per half bar, or mixed).
    seed : the same seed gives the same arrangement (identical MIDI).
    meter : beats per bar, 4 or 3 (``None``: 4/4 with p=0.8).
    tempo : BPM (``None``: drawn from the style's range, e.g. ballad 56-84, rock 90-150). With durations in
        beats the tempo may drift slowly (+-3 %) in some pieces; :attr:`Arrangement.beats` holds the truth.
    style : drum/groove style, one of :data:`DRUM_STYLES` (``None``: drawn).
    n_chords : number of chords when ``labels`` is ``None`` (default: drawn in 6-16).
    tail : seconds after the last chord, labelled ``N`` (release of the last notes).

    Returns
    -------
    :class:`Arrangement`.

    Raises
    ------
    ParameterError : bad labels, durations, meter, tempo or style.
    """
    import pretty_midi

    if meter is not None and meter not in (3, 4):
        raise ParameterError(f"meter must be 3 or 4 beats per bar, got {meter}")
    if tempo is not None and not 20 <= tempo <= 400:
        raise ParameterError(f"tempo must be in 20-400 BPM, got {tempo}")
    if style is not None and style not in DRUM_STYLES:
        raise ParameterError(f"unknown style {style!r}; choose one of {', '.join(DRUM_STYLES)}")
    if tail < 0:
        raise ParameterError(f"tail must be >= 0 seconds, got {tail}")
    ss = _seed_sequence(seed)
    r_struct, r_drums, r_bass, r_comp, r_comp2, r_lead, r_other, r_tune = (
        np.random.default_rng(s) for s in ss.spawn(8)
    )
    style = style or str(_pick(r_struct, DRUM_STYLES, (0.22, 0.24, 0.12, 0.12, 0.16, 0.14)))
    meter = meter or (3 if r_struct.random() < (0.35 if style in ("ballad", "shuffle") else 0.15) else 4)
    bpm = float(tempo) if tempo is not None else float(r_struct.uniform(*_STYLE_TEMPO[style]))
    beat = 60.0 / bpm
    generated = labels is None
    if labels is None:
        n = n_chords or int(r_struct.integers(6, 17))
        if durations_or_intervals is not None:
            n = len(durations_or_intervals)
        labels = random_walk_labels(r_struct, n) if r_struct.random() < 0.75 else uniform_labels(r_struct, n)
    labels = _validate_labels(list(labels))
    if not labels:
        raise ParameterError("arrange() needs at least one chord label")
    p_inversion = float(_pick(r_struct, (0.0, 0.15), (0.6, 0.4)))
    labels = [_with_inversion(r_struct, lab) if r_struct.random() < p_inversion else lab for lab in labels]

    has_drums = r_struct.random() < 0.85
    # the beat grid and the chords in beats
    drift = 0.0
    if durations_or_intervals is None or np.ndim(durations_or_intervals) == 1:
        if durations_or_intervals is None:
            rhythm = str(_pick(r_struct, ("bar", "two_bars", "half_bar", "mixed"), (0.4, 0.2, 0.15, 0.25)))
            options = {"bar": [meter], "two_bars": [2 * meter], "half_bar": [2] if meter == 4 else [meter]}
            options["mixed"] = [meter, 2 * meter, 2] if meter == 4 else [meter, 2 * meter]
            beats_per = [int(_pick(r_struct, options[rhythm])) for _ in labels]
        else:
            rhythm = "given"
            d = np.asarray(durations_or_intervals, dtype=np.float64)
            if len(d) != len(labels) or np.any(d < 1) or np.any(d != np.round(d)):
                raise ParameterError(
                    f"durations must be {len(labels)} positive whole numbers of beats (one per label), got {d.tolist()}"
                )
            beats_per = [int(v) for v in d]
        n_beats = int(sum(beats_per))
        intro = bool(generated and has_drums and r_struct.random() < 0.25)
        if intro:  # one drums-only bar (N) before the chords
            labels, beats_per, n_beats = ["N", *labels], [meter, *beats_per], n_beats + meter
        lengths = np.full(n_beats, beat)
        if tempo is None and r_struct.random() < 0.3:
            drift = float(r_struct.uniform(0.005, 0.015))
            walk = np.cumsum(r_struct.normal(0, drift, n_beats))
            walk -= np.linspace(0, walk[-1], n_beats)  # returns to the start tempo
            lengths = beat * np.exp(np.clip(walk, -0.03, 0.03))
        bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    else:
        rhythm, intro = "given", False
        iv = np.asarray(durations_or_intervals, dtype=np.float64)
        if iv.ndim != 2 or iv.shape != (len(labels), 2) or np.any(iv[:, 1] <= iv[:, 0]) or iv[0, 0] < 0:
            raise ParameterError(f"intervals must be ({len(labels)}, 2) seconds with end > start >= 0")
        if np.any(np.abs(iv[1:, 0] - iv[:-1, 1]) > 1e-6):
            raise ParameterError("intervals must be contiguous (each start equals the previous end)")
        if iv[0, 0] > 1e-6:
            labels, iv = ["N", *labels], np.vstack([[0.0, iv[0, 0]], iv])
        beats_per = [max(1, round((e - s) / beat)) for s, e in iv]
        bounds = [0.0]
        for (s, e), nb in zip(iv, beats_per, strict=True):
            bounds += list(s + (e - s) * np.arange(1, nb + 1) / nb)
        bounds = np.asarray(bounds)
        bounds[0] = 0.0
    swing = 2.0 / 3.0 if style == "shuffle" else 0.5
    if style in ("funk", "pop") and r_struct.random() < 0.3:
        swing = float(r_struct.uniform(0.52, 0.58))
    grid = _Grid(bounds, meter, swing)
    chords, b = [], 0
    for lab, nb in zip(labels, beats_per, strict=True):
        chords.append(_chord(b, b + nb, lab))
        b += nb
    phrase_bars = int(_pick(r_struct, (2, 4), (0.3, 0.7)))
    ctx = _Ctx(grid, chords, style, phrase_bars, section_bars=2 * phrase_bars)

    # which parts play
    has_lead = r_struct.random() < 0.9
    if not has_drums and not has_lead:
        has_lead = True
    drums_in_n = bool(r_struct.random() < 0.5)
    comp_family = str(_pick(r_struct, tuple(COMPING_PROGRAMS), (0.35, 0.25, 0.1, 0.1, 0.1, 0.1)))
    comp2_family = None
    if r_struct.random() < 0.25:
        comp2_family = str(_pick(r_struct, [f for f in ("piano", "guitar", "organ") if f != comp_family]))
    other_family = str(_pick(r_struct, ("pads", "strings", "organ"))) if r_struct.random() < 0.4 else None

    parts: dict[str, pretty_midi.PrettyMIDI] = {}
    params: dict[str, Any] = {
        "seed": [int(v) for v in np.atleast_1d(ss.entropy)] if ss.entropy is not None else None,
        "style": style,
        "meter": meter,
        "tempo": bpm,
        "tempo_drift": drift,
        "swing": swing,
        "harmonic_rhythm": rhythm,
        "beats_per_chord": [int(v) for v in beats_per],
        "p_inversion": p_inversion,
        "intro": intro,
        "phrase_bars": phrase_bars,
        "section_bars": 2 * phrase_bars,
        "parts": {},
    }

    def add(role: str, insts: list, p: dict) -> None:
        insts = [i for i in insts if i.notes]
        if not insts:
            return
        pm = parts.setdefault(role, pretty_midi.PrettyMIDI(initial_tempo=bpm))
        pm.instruments.extend(insts)
        params["parts"].setdefault(role, []).append(p)

    if has_drums:
        play = np.ones(ctx.n_bars, dtype=bool)
        if not drums_in_n:
            for bar in range(ctx.n_bars):
                span = range(bar * meter, min((bar + 1) * meter, ctx.n_beats))
                play[bar] = (intro and bar == 0) or any(not ctx.chords[int(ctx.index[k])].is_n for k in span)
        insts, p = _drums(r_drums, ctx, style, play)
        add("drums", insts, p)
    bass, p = _bass(r_bass, ctx, style)
    add("bass", [bass], p)
    register = (48, 76) if comp_family != "pads" else (48, 79)
    comp, p = _comping(r_comp, ctx, comp_family, None, "comping", register)
    add("comping", [comp], p)
    comp_top = max((n.pitch for n in comp.notes), default=64)
    if comp2_family is not None:
        comp2, p = _comping(r_comp2, ctx, comp2_family, None, "comping2", (52, 79))
        add("comping", [comp2], p)
    if other_family is not None:
        reg = (48, 72) if comp_top > 70 else (55, 79)
        pad, p = _comping(r_other, ctx, other_family, "block", "other", reg)
        add("other", [pad], p)
    if has_lead:
        lead, p = _lead(r_lead, ctx, max(55, comp_top - 7))
        add("lead", [lead], p)
    # constant tuning offsets of the accompaniment (instruments drift against each other)
    for role in ("bass", "comping", "other"):
        for k, inst in enumerate(parts[role].instruments if role in parts else []):
            cents = float(np.clip(r_tune.normal(0, 4), -10, 10))
            inst.pitch_bends = [pretty_midi.PitchBend(_bend_value(cents), 0.0)]
            params["parts"][role][k]["tuning_cents"] = cents

    # labels: merge repeated N, add the tail
    segs: list[list] = []
    for c in chords:
        s, e = float(bounds[c.b0]), float(bounds[c.b1])
        if segs and segs[-1][2] == c.label == "N":
            segs[-1][1] = e
        else:
            segs.append([s, e, c.label])
    end = float(bounds[-1])
    if tail > 0:
        if segs[-1][2] == "N":
            segs[-1][1] = end + tail
        else:
            segs.append([end, end + tail, "N"])
    intervals = np.array([[s, e] for s, e, _ in segs], dtype=np.float64)
    beats_t = np.asarray(bounds[:-1], dtype=np.float64)
    params["n_parts"] = sum(len(pm.instruments) for pm in parts.values())
    return Arrangement(
        parts=parts,
        intervals=intervals,
        labels=[lab for _, _, lab in segs],
        tempo=60.0 * len(beats_t) / end,
        meter=meter,
        beats=beats_t,
        downbeats=beats_t[::meter].copy(),
        duration=float(intervals[-1, 1]),
        params=params,
    )


# --------------------------------------------------------------------------------------------------- render


def render_stems(
    arr: Arrangement,
    soundfont: str | os.PathLike[str] = "timgm6mb",
    *,
    sr: int = 22050,
    duration: float | None = None,
    renderer: Renderer | None = None,
) -> dict[str, np.ndarray]:
    """Render each role of ``arr`` separately with FluidSynth (pitch bends included).

    Parameters
    ----------
    arr : the arrangement.
    soundfont : registry name or path (:func:`dlmir.data.synth.resolve_soundfont`).
    sr : sample rate in Hz.
    duration : seconds per stem (default :attr:`Arrangement.duration`).
    renderer : a :class:`~dlmir.data.synth.Renderer` at ``sr`` to reuse (soundfonts stay loaded); default a
        fresh one, closed afterwards.

    Returns
    -------
    stems : ``{role: float32 (samples,)}``, ``samples = round(duration * sr)``, each brought to an RMS of
        ``-20 dBFS + ROLE_LEVEL_DB[role]`` (lead 0, drums -1, bass -2, comping -4, other -6 dB), so their
        plain sum is a balanced mix.

    Raises
    ------
    AudioError : a stem renders silent (a program missing from the soundfont).
    """
    from dlmir.data.synth import Renderer

    own = renderer is None
    renderer = renderer or Renderer(sr=sr)
    if renderer.sr != sr:
        raise ParameterError(f"renderer runs at {renderer.sr} Hz, but sr={sr}")
    n = round((arr.duration if duration is None else duration) * sr)
    stems = {}
    try:
        for role in ROLES:
            if role not in arr.parts:
                continue
            try:
                y = renderer.render(arr.parts[role], soundfont, duration=n / sr, peak=None)
            except AudioError as exc:
                raise AudioError(
                    f"the {role} stem rendered silent with {soundfont}; is every GM program there?"
                ) from exc
            rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
            if rms < 1e-6:
                raise AudioError(f"the {role} stem rendered silent with {soundfont}; is every GM program there?")
            stems[role] = (y * (10 ** ((-20.0 + _ROLE_LEVEL_DB[role]) / 20) / rms)).astype(np.float32)
    finally:
        if own:
            renderer.close()
    return stems


def render_arrangement(
    arr: Arrangement,
    soundfont: str | os.PathLike[str] = "timgm6mb",
    *,
    sr: int = 22050,
    production: str = "realistic",
    seed: int | None = None,
    params: dict | str | None = None,
    renderer: Renderer | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, dict]:
    """Render ``arr`` stem by stem, produce it (:func:`dlmir.data.production.produce`) and keep labels exact.

    Parameters
    ----------
    arr : the arrangement (:func:`arrange`).
    soundfont : registry name or path.
    sr : sample rate in Hz.
    production : ``"clean"``, ``"realistic"`` or ``"heavy"`` (:data:`dlmir.data.production.PRESETS`).
    seed : production seed (``None``: drawn and recorded in ``info["production"]``).
    params : a production record (``info["production"]`` of an earlier call) to replay exactly.
    renderer : a :class:`~dlmir.data.synth.Renderer` at ``sr`` to reuse.

    Returns
    -------
    audio : float32 ``(samples,)``, ``samples = round(intervals[-1, 1] * sr)``.
    intervals : float64 ``(n, 2)`` label times in seconds, multiplied by production's ``time_scale``.
    labels : ``n`` Harte labels (the arrangement's).
    beats : float64 ``(n_beats, 2)``: beat time in seconds (scaled likewise) and position in the bar
        (1 = downbeat), madmom's beat-annotation layout; beats past the end of the audio are dropped.
    info : JSON-serialisable: ``arrangement`` (:attr:`Arrangement.params`), ``production`` (the record),
        ``time_scale``, ``downbeats`` (seconds), ``sr``, ``soundfont``, ``render_s`` and ``produce_s``
        (wall-clock seconds).

    The stems are rendered 6 % longer than the arrangement and zero-padded, so a detune that slows the
    recording down (``time_scale > 1``) does not cut the tail; the produced audio is then trimmed to the
    scaled end of the last label.
    """
    from dlmir.data.production import produce
    from dlmir.data.synth import resolve_soundfont

    t0 = time.perf_counter()
    n_out = round(arr.duration * sr)
    stems = render_stems(arr, soundfont, sr=sr, renderer=renderer)
    pad = int(math.ceil(arr.duration * 0.06 * sr)) + 64
    stems = {k: np.pad(v, (0, pad)) for k, v in stems.items()}
    t1 = time.perf_counter()
    audio, record = produce(stems, sr, seed=seed, preset=production, params=params)
    t2 = time.perf_counter()
    scale = float(record["detune"]["time_scale"])
    intervals = arr.intervals * scale
    n_out = round(float(intervals[-1, 1]) * sr)
    if n_out > len(audio):  # cannot happen within +-100 cents; keep labels inside the audio anyway
        keep = intervals[:, 0] < len(audio) / sr
        intervals, labels = intervals[keep], [lab for lab, k in zip(arr.labels, keep, strict=True) if k]
        intervals[-1, 1] = len(audio) / sr
        n_out = len(audio)
    else:
        labels = list(arr.labels)
    audio = audio[:n_out]
    end = n_out / sr
    beat_t = arr.beats * scale
    keep = beat_t < end
    beats = np.stack([beat_t[keep], arr.beat_numbers[keep].astype(np.float64)], axis=1)
    info = {
        "arrangement": arr.params,
        "production": record,
        "time_scale": scale,
        "downbeats": [float(t) for t in arr.downbeats * scale if t < end],
        "sr": int(sr),
        "soundfont": resolve_soundfont(soundfont)[0],
        "render_s": t1 - t0,
        "produce_s": t2 - t1,
    }
    return audio.astype(np.float32), intervals, labels, beats, info
