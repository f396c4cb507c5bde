"""Isolated notes: ranges, labels, rendered pitch."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.data.instruments import DYNAMICS, INSTRUMENTS, generate_note, note_grid
from dlmir.data.synth import Renderer
from dlmir.errors import ParameterError


def test_table() -> None:
    assert len(INSTRUMENTS) >= 12
    assert len({i.program for i in INSTRUMENTS.values()}) == len(INSTRUMENTS)
    assert INSTRUMENTS["piano"].low == 21 and INSTRUMENTS["piano"].high == 108  # A0..C8
    assert INSTRUMENTS["flute"].low == 60  # C4
    grid = note_grid()
    assert len(grid) == 3 * sum(i.high - i.low + 1 for i in INSTRUMENTS.values())
    assert DYNAMICS["pp"] < DYNAMICS["mf"] < DYNAMICS["ff"]


@pytest.mark.parametrize(("name", "pitch"), [("cello", 48), ("trumpet", 67), ("flute", 76), ("piano", 60)])
def test_rendered_pitch(name: str, pitch: int) -> None:
    sr = 22050
    p = generate_note(name, pitch, "mf")
    assert p.labels == [name] and p.duration == 2.0
    with Renderer(sr=sr) as r:
        y = r.render(p.midi, "fluidr3", duration=p.duration)
    seg = y[int(0.2 * sr) : int(1.2 * sr)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=1 << 17))
    freqs = np.fft.rfftfreq(1 << 17, 1 / sr)
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    # the strongest partial is a harmonic of the note's fundamental: k * f0 within 1 %
    peak = freqs[np.argmax(spec)]
    k = max(1, round(peak / f0))
    assert peak == pytest.approx(k * f0, rel=0.01)


def test_errors() -> None:
    with pytest.raises(ParameterError, match="outside the flute range"):
        generate_note("flute", 40, "mf")
    with pytest.raises(ParameterError, match="unknown instrument"):
        generate_note("kazoo", 60, "mf")


def test_velocity_overrides_the_dynamic_and_changes_the_audio() -> None:
    assert generate_note("piano", 60, "mf").midi.instruments[0].notes[0].velocity == DYNAMICS["mf"]
    soft, loud = (generate_note("piano", 60, "mf", velocity=v) for v in (68, 92))
    assert [p.midi.instruments[0].notes[0].velocity for p in (soft, loud)] == [68, 92]
    with Renderer(sr=22050) as r:
        rms = [float(np.sqrt(np.mean(r.render(p.midi, "timgm6mb", duration=p.duration) ** 2))) for p in (soft, loud)]
    assert rms[1] > rms[0] > 0  # a harder key strike renders louder
    for bad in (0, 128, 64.5):
        with pytest.raises(ParameterError, match="velocity must be a MIDI velocity"):
            generate_note("piano", 60, "mf", velocity=bad)  # type: ignore[arg-type]
