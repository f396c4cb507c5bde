"""Tests for the designed transcription baseline (dlmir.transcription.salience) and the user API
(dlmir.transcription.transcribe): rendered notes and chords transcribed exactly, streaming equal to one call."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from transcription_fixtures import render_timgm  # noqa: I001

from dlmir.errors import ParameterError
from dlmir.layers import Dense, LogCompression
from dlmir.transcription import (
    HarmonicSalience,
    NoteTranscriber,
    harmonic_matrix,
    notes_from_activations,
    salience_activations,
    transcribe,
    transcribe_file,
)

SR = 22050


@pytest.fixture(scope="module")
def designed() -> NoteTranscriber:
    return NoteTranscriber("designed")


def _render(notes: list[tuple[int, float, float]], program: int = 0, duration: float = 1.5) -> np.ndarray:
    """``(pitch, start, end)`` notes rendered with TimGM6mb (skips when FluidSynth or the soundfont is missing)."""
    return render_timgm(notes, program=program, duration=duration)[0]


def _harmonic_tone(f0: float, start: float, end: float, duration: float = 1.5) -> np.ndarray:
    t = np.arange(int(duration * SR)) / SR
    y = sum(0.8 ** (h - 1) * np.sin(2 * np.pi * h * f0 * t) for h in range(1, 9))
    return (0.3 * y * ((t >= start) & (t < end))).astype(np.float32)


def test_harmonic_matrix_puts_harmonics_on_cqt_bins() -> None:
    fmin = librosa.midi_to_hz(21) * 2 ** (-1 / 36)
    freqs = librosa.cqt_frequencies(312, fmin=fmin, bins_per_octave=36)
    m = harmonic_matrix(freqs, beta=0.0, alpha=0.8)
    row = m[69 - 21]  # A4
    for h in range(1, 9):
        k = int(np.argmin(np.abs(freqs - h * 440.0)))  # librosa's bin nearest the harmonic
        assert row[k] > 0
        if h in (1, 2, 4, 8):  # octaves of A4 fall on a bin centre: the whole weight alpha^(h-1) there
            assert row[k] == pytest.approx(0.8 ** (h - 1))
    # total positive weight: sum of alpha^(h-1) over the harmonics below the top bin
    assert row.sum() == pytest.approx(sum(0.8 ** (h - 1) for h in range(1, 9)))
    # beta puts -beta * alpha^(h-1) between harmonics
    neg = harmonic_matrix(freqs, beta=0.5, alpha=0.8)[69 - 21]
    assert neg[int(np.argmin(np.abs(freqs - 660.0)))] < 0
    assert neg.sum() == pytest.approx(row.sum() - 0.5 * sum(0.8 ** (h - 1) for h in range(1, 9)), rel=1e-6)


def test_cascade_stages_frozen_and_cqt_equals_librosa() -> None:
    fe = HarmonicSalience()
    assert fe.names == ["filterbank", "modulus", "compression", "harmonics", "gate"]
    assert isinstance(fe["compression"], LogCompression) and isinstance(fe["harmonics"], Dense)
    assert fe["harmonics"].weight.shape == (176, 312)
    assert fe.trainable_stages == []
    assert set(HarmonicSalience(trainable=True).trainable_stages) == {"filterbank", "compression", "harmonics"}
    y = _harmonic_tone(261.63, 0.1, 0.9, duration=1.0)
    cqt = fe.cqt(y)[0].numpy()
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=256, fmin=librosa.midi_to_hz(21) * 2 ** (-1 / 36), n_bins=312,
                             bins_per_octave=36))  # fmt: skip
    assert np.linalg.norm(cqt - ref) / np.linalg.norm(ref) < 1e-4
    s = fe(y)
    assert s.shape == (1, 88, 1 + len(y) // 256)
    assert float(s.min()) >= 0.0


def test_pure_tone_salience_peaks_at_its_pitch() -> None:
    y = librosa.tone(440.0, sr=SR, duration=1.0)
    s = HarmonicSalience()(y)[0]
    assert int(s[:, 20:70].sum(dim=1).argmax()) + 21 == 69


def test_salience_activations_thresholds() -> None:
    s = np.zeros((88, 3), np.float32)
    s[[10, 11, 30, 42], 0] = [1.0, 0.8, 0.6, 0.3]  # 11 leaks from 10; 42 is below half the frame's max
    s[[40, 52], 1] = [0.5, 0.3]  # 52 = octave above 40, weaker than 0.7 x 40
    act = salience_activations(s, relative_threshold=0.5, octave_ratio=0.7)
    assert np.flatnonzero(act[:, 0]).tolist() == [10, 30]
    assert act[10, 0] == pytest.approx(1.0) and act[30, 0] == pytest.approx(0.6)
    assert np.flatnonzero(act[:, 1]).tolist() == [40]
    assert np.flatnonzero(salience_activations(s, relative_threshold=0.5)[:, 1]).tolist() == [40, 52]
    assert not act[:, 2].any()


def test_synthetic_harmonic_tone_is_one_note(designed: NoteTranscriber) -> None:
    notes = designed.transcribe(_harmonic_tone(261.63, 0.25, 1.25), SR)
    assert notes.pitch.tolist() == [60]
    assert abs(notes.onset[0] - 0.25) < 0.05
    assert abs(notes.offset[0] - 1.25) < 0.1


def test_rendered_single_note_is_transcribed_exactly(designed: NoteTranscriber) -> None:
    y = _render([(60, 0.25, 1.25)])
    notes = designed.transcribe(y, SR)
    assert notes.pitch.tolist() == [60]
    assert abs(notes.onset[0] - 0.25) < 0.05


@pytest.mark.parametrize("chord", [(60, 64, 67), (69, 72, 76)])
def test_rendered_triad_is_transcribed_exactly(designed: NoteTranscriber, chord: tuple[int, ...]) -> None:
    y = _render([(p, 0.25, 1.25) for p in chord])
    notes = designed.transcribe(y, SR)
    assert sorted(notes.pitch.tolist()) == list(chord)
    assert np.all(np.abs(notes.onset - 0.25) < 0.05)


def test_streamed_blocks_equal_one_call(tmp_path: Path, designed: NoteTranscriber) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    y = np.concatenate([_harmonic_tone(librosa.midi_to_hz(p), 0.1, 0.9, duration=1.0) for p in rng.integers(40, 80, 4)])
    whole = NoteTranscriber("designed", block_seconds=None).activations(y, SR)
    blocks = NoteTranscriber("designed", block_seconds=0.7).activations(y, SR)
    assert blocks.salience.shape == whole.salience.shape == (88, 1 + len(y) // 256)
    np.testing.assert_allclose(blocks.salience, whole.salience, rtol=1e-4, atol=1e-4 * float(whole.salience.max()))
    path = tmp_path / "tones.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    from_file = NoteTranscriber("designed", block_seconds=0.7).activations_file(path)
    np.testing.assert_allclose(from_file.salience, whole.salience, rtol=1e-4, atol=1e-4 * float(whole.salience.max()))
    assert transcribe_file(path, model="designed") == transcribe(y, SR, model="designed")
    assert transcribe(y, SR, model="designed").pitch.size == 4


def test_resampled_input(designed: NoteTranscriber) -> None:
    y = _harmonic_tone(440.0, 0.25, 1.25)
    y16 = librosa.resample(y, orig_sr=SR, target_sr=16000)
    notes = designed.transcribe(y16, 16000)
    assert notes.pitch.tolist() == [69] and abs(notes.onset[0] - 0.25) < 0.05


class _FakeTranscriber(torch.nn.Module):
    """The dlmir.models.Transcriber contract: CQT frames -> dict of (batch, 88, frames) logits. Fires MIDI 60
    wherever the CQT bin of C4 is loud (a per-frame model: streams with no context)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, cqt: torch.Tensor) -> dict[str, torch.Tensor]:
        from dlmir.frontends.presets import CHORD_CQT

        fmin = CHORD_CQT.get("fmin") or librosa.note_to_hz("C1")
        bpo = CHORD_CQT["bins_per_octave"]
        k = int(round(bpo * np.log2(librosa.midi_to_hz(60) / fmin)))
        level = cqt[:, k] / (cqt.amax(dim=(1, 2))[:, None] + 1e-9)
        frames = torch.full((cqt.shape[0], 88, cqt.shape[-1]), -10.0)
        frames[:, 60 - 21] = 20.0 * (level - 0.3) * self.scale
        onsets = torch.full_like(frames, -10.0)
        rise = torch.diff(level, dim=-1, prepend=level[..., :1])
        onsets[:, 60 - 21] = 50.0 * (rise - 0.05)
        return {"frames": frames, "onsets": onsets, "offsets": torch.full_like(frames, -10.0)}


def test_learned_model_contract_with_a_fake_module() -> None:
    model = _FakeTranscriber()
    tr = NoteTranscriber(model)
    assert not tr.designed and tr.settings["frame_threshold"] == 0.5
    y = _harmonic_tone(261.63, 0.3, 1.2)
    act = tr.activations(y, SR)
    assert act.frames.shape[0] == 88 and act.onsets is not None
    notes = tr.decode(act)
    assert notes.pitch.tolist() == [60]
    assert abs(notes.onset[0] - 0.3) < 0.05
    # the decoder on the same activations, called directly
    direct = notes_from_activations(act.frames, act.onsets, act.offsets, act.frame_rate, min_duration_s=0.05)
    assert direct == notes


def test_default_without_a_shipped_model_warns_and_uses_designed(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlmir.models import io

    monkeypatch.setattr(io, "SHIPPED", {k: v for k, v in io.SHIPPED.items() if k != "transcriber"})  # not shipped
    with pytest.warns(UserWarning, match="designed baseline"):
        tr = NoteTranscriber("default")
    assert tr.designed


def test_bad_model_raises() -> None:
    with pytest.raises(ParameterError, match="no such folder"):
        NoteTranscriber("no/such/model")
    with pytest.raises(ParameterError, match="block_seconds"):
        NoteTranscriber("designed", block_seconds=0)


def test_real_transcriber_streams_like_one_call() -> None:
    """dlmir.models.Transcriber (untrained): blocks with overlap give its one-call probabilities (predict)."""
    from dlmir.models import Transcriber

    torch.manual_seed(0)
    model = Transcriber()
    y = (0.1 * np.random.default_rng(0).standard_normal(8 * SR)).astype(np.float32)
    blocks = NoteTranscriber(model, block_seconds=2.0, level_db=None).activations(y, SR)
    direct = model.predict(y)
    for key in ("frames", "onsets", "offsets"):
        np.testing.assert_allclose(getattr(blocks, key), direct[key], atol=1e-5)
