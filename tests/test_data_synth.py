"""Tests for dlmir.data.synth: FluidSynth rendering (pitch, timing, length, determinism, errors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi")

from dlmir.data import synth  # noqa: E402
from dlmir.data.synth import SOUNDFONTS, Renderer, SoundFont, resolve_soundfont  # noqa: E402
from dlmir.errors import AudioError, DependencyError, ParameterError  # noqa: E402

SR = 22050
pytestmark = pytest.mark.skipif(
    not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() and not Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file(),
    reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)",
)


def _midi(notes: list[tuple[int, int, float, float]], drums: bool = False) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=notes[0][0], is_drum=drums)
    inst.notes = [pretty_midi.Note(100, p, s, e) for _, p, s, e in notes]
    pm.instruments.append(inst)
    return pm


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    r = Renderer(sr=SR)
    yield r
    r.close()


def test_a4_sounds_at_440_hz(renderer: Renderer) -> None:
    y = renderer.render(_midi([(0, 69, 0.0, 1.0)]), "timgm6mb", duration=1.5)
    assert y.dtype == np.float32 and y.shape == (round(1.5 * SR),)
    assert np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-6)  # peak-normalised
    seg = y[int(0.1 * SR) : int(0.9 * SR)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=1 << 17))
    freqs = np.fft.rfftfreq(1 << 17, 1 / SR)
    band = (freqs > 300) & (freqs < 600)
    f0 = freqs[band][np.argmax(spec[band])]
    assert f0 == pytest.approx(440.0, abs=2.0)


def test_onset_is_where_the_midi_says(renderer: Renderer) -> None:
    y = renderer.render(_midi([(0, 60, 0.5, 1.0)]), "timgm6mb", duration=1.5, peak=None)
    onset = np.flatnonzero(np.abs(y) > 1e-3)[0]
    assert 0.5 * SR <= onset < 0.5 * SR + 0.02 * SR  # sample-exact scheduling, attack within 20 ms
    assert np.max(np.abs(y[: int(0.5 * SR)])) < 1e-5  # silence before it (residue of earlier items < -100 dB)


def test_same_sequence_in_fresh_renderers_is_identical() -> None:
    a = _midi([(0, 60, 0.0, 0.8), (0, 64, 0.0, 0.8), (0, 67, 0.2, 0.8)])
    b = _midi([(36, 38, 0.0, 0.1), (36, 42, 0.25, 0.3)], drums=True)
    outs = []
    for _ in range(2):
        with Renderer(sr=SR) as r:
            outs.append([r.render(a, "timgm6mb"), r.render(b, "timgm6mb"), r.render(a, "timgm6mb")])
    for x, y in zip(outs[0], outs[1], strict=True):
        np.testing.assert_array_equal(x, y)
    # consecutive renders of the same item differ by at most FluidSynth's voice-pool residue
    assert np.max(np.abs(outs[0][0] - outs[0][2])) < 0.2


def test_drums_render_on_channel_10(renderer: Renderer) -> None:
    y = renderer.render(_midi([(0, 36, 0.0, 0.2)], drums=True), "timgm6mb", duration=0.5)
    assert np.max(np.abs(y)) > 0.5


def test_silence_raises_audio_error(renderer: Renderer) -> None:
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    with pytest.raises(AudioError, match="silence"):
        renderer.render(pm, "timgm6mb", duration=0.5)


def test_soundfont_registry_and_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name, path = resolve_soundfont("TimGM6mb")
    assert name == "timgm6mb" and path.is_file()
    assert resolve_soundfont(str(path)) == (path.stem, path)
    monkeypatch.setitem(
        SOUNDFONTS, "fluidr3", SoundFont("fluidr3", (str(tmp_path / "missing.sf2"),), "fluid-soundfont-gm")
    )
    with pytest.raises(DependencyError, match="apt-get install fluid-soundfont-gm"):
        resolve_soundfont("fluidr3")
    with pytest.raises(ParameterError, match="does not exist"):
        resolve_soundfont(tmp_path / "nope.sf2")
    with pytest.raises(ParameterError, match="unknown soundfont"):
        resolve_soundfont("grand_piano_deluxe")


def test_missing_fluidsynth_raises_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == "fluidsynth":
            raise ImportError("No module named 'fluidsynth'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DependencyError, match="apt-get install fluidsynth"):
        synth.Renderer(sr=SR)


def _note(pitch: int, program: int = 0, dur: float = 1.0) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    inst.notes.append(pretty_midi.Note(100, pitch, 0.25, 0.25 + dur))
    pm.instruments.append(inst)
    return pm


def test_length_pitch_and_onset() -> None:
    sr = 22050
    with Renderer(sr=sr) as r:
        y = r.render(_note(69, program=73), "timgm6mb", duration=2.0)  # flute A4
    assert y.shape == (2 * sr,) and y.dtype == np.float32
    assert np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-6)
    assert np.max(np.abs(y[: int(0.25 * sr) - 1])) < 1e-6  # nothing before the note-on
    seg = y[int(0.5 * sr) : int(1.0 * sr)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=1 << 16))
    f0 = np.argmax(spec) * sr / (1 << 16)
    assert f0 == pytest.approx(440.0, rel=0.01)


def test_deterministic_in_fresh_renderers() -> None:
    pm = _note(60, dur=0.5)
    with Renderer() as a, Renderer() as b:
        y1, y2 = a.render(pm, "timgm6mb"), b.render(pm, "timgm6mb")
        y3 = a.render(pm, "timgm6mb")  # same renderer again: flushed and reset
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y1, y3, atol=0.05)


@pytest.mark.skipif("opl3" not in synth.installed_soundfonts(), reason="no OPL3 soundfont (opl3-soundfont)")
def test_missing_drum_kit_falls_back_to_kit_0_of_the_same_soundfont(renderer: Renderer) -> None:
    # opl3 has only the standard kit: a GM2 kit (8 = room) must sound as kit 0 of opl3, not fail silently or
    # borrow another loaded soundfont's kit
    y0 = renderer.render(_midi([(0, 38, 0.1, 0.3), (0, 36, 0.5, 0.7)], drums=True), "opl3", duration=1.0)
    renderer.render(_midi([(8, 38, 0.1, 0.2)], drums=True), "timgm6mb", duration=0.5)  # kit 8 of another soundfont
    y8 = renderer.render(_midi([(8, 38, 0.1, 0.3), (8, 36, 0.5, 0.7)], drums=True), "opl3", duration=1.0)
    assert np.abs(y0).max() > 0.05
    np.testing.assert_allclose(y8, y0, atol=1e-3)
    sfid = renderer._sfid(resolve_soundfont("opl3")[1])
    assert renderer.select_program(9, sfid, 8, drum=True) == 0
    assert renderer.select_program(9, sfid, 0, drum=True) == 0
    assert renderer.select_program(0, sfid, 40, drum=False) == 40
