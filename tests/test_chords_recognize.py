"""Chord recognition (dlmir.chords.recognition): the example's score, equality with decode and with librosa's
Viterbi, streamed files equal to one-shot signals, vocabulary mapping of chord models, tablature."""

from __future__ import annotations

import subprocess
import sys

import librosa
import numpy as np
import pytest
import torch
from torch import nn

from dlmir.annotations import read_lab
from dlmir.chords import ChordVocabulary
from dlmir.chords.decode import decode
from dlmir.chords.recognition import (
    ChordRecognizer,
    TemplateChordModel,
    VocabularyChordModel,
    chord_model,
    recognize,
    recognize_file,
    smooth,
)
from dlmir.errors import ParameterError
from dlmir.evaluate import chords, chroma_of_audio
from dlmir.examples import example_audio, example_labels
from dlmir.frontends.presets import CHORD_CQT, chord_frontend
from dlmir.io import load
from dlmir.models import load as load_model

SR = CHORD_CQT["sr"]


@pytest.fixture(scope="module")
def example():
    y, sr = load(example_audio(), sr=SR)
    return y, sr, read_lab(example_labels())


@pytest.fixture(scope="module")
def rec():
    return ChordRecognizer("default")


def test_default_model_scores_the_example(example, rec):
    y, sr, (ref_i, ref_l) = example
    intervals, labels = rec.recognize(y, sr)
    scores = chords(ref_i, ref_l, intervals, labels)
    # measured: root 0.985, majmin 0.985, sevenths 0.863 (full vocabulary, Viterbi)
    assert scores["majmin"] >= 0.9, scores
    assert scores["sevenths"] >= 0.8, scores
    assert intervals[0, 0] == 0.0 and intervals[-1, 1] == pytest.approx(len(y) / sr)
    np.testing.assert_array_equal(intervals[1:, 0], intervals[:-1, 1])


@pytest.mark.parametrize("variant", ["designed", "default"])
@pytest.mark.parametrize("vocabulary", ["full", "majmin"])
@pytest.mark.parametrize("method", ["viterbi", "none"])
def test_template_models_decode_exactly_as_decode(example, variant, vocabulary, method):
    y, sr, _ = example
    intervals, labels = recognize(y, sr, model=variant, vocabulary=vocabulary, method=method)
    chroma, fe = chroma_of_audio(variant if variant == "designed" else load_model("default"), y, sr=sr)
    ref_i, ref_l = decode(
        chroma, sr=sr, hop_length=fe.hop_length, vocabulary=vocabulary, method=method, duration=len(y) / sr
    )
    assert labels == ref_l
    np.testing.assert_allclose(intervals, ref_i, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_seconds", [1.0, 2.5])
def test_recognize_file_in_blocks_equals_recognize(example, rec, block_seconds):
    y, sr, _ = example
    whole_i, whole_l = rec.recognize(y, sr)
    file_i, file_l = rec.recognize_file(example_audio(), block_seconds=block_seconds)
    assert file_l == whole_l
    np.testing.assert_allclose(file_i, whole_i, rtol=0, atol=1e-3)
    assert recognize_file(example_audio(), block_seconds=block_seconds)[1] == whole_l


def test_resamples_other_rates(example, rec):
    y, sr, (ref_i, ref_l) = example
    y44 = librosa.resample(y, orig_sr=sr, target_sr=44100)
    intervals, labels = rec.recognize(y44, 44100)
    assert intervals[-1, 1] == pytest.approx(len(y44) / 44100)
    assert chords(ref_i, ref_l, intervals, labels)["majmin"] >= 0.9


def test_import_dlmir_chords_stays_torch_free_and_exports_recognize():
    code = (
        "import sys, dlmir.chords as c; assert 'torch' not in sys.modules; "
        "assert callable(c.recognize) and callable(c.recognize_file) and c.ChordRecognizer.__name__ == "
        "'ChordRecognizer'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("n_states", [2, 5, 25])
def test_viterbi_equals_librosa(n_states):
    rng = np.random.default_rng(n_states)
    logits = rng.normal(size=(n_states, 400)) * 3
    prob = np.exp(logits - logits.max(axis=0))
    prob /= prob.sum(axis=0)
    for p_self in (0.5, 0.9, 0.99):
        expected = librosa.sequence.viterbi_discriminative(prob, librosa.sequence.transition_loop(n_states, p_self))
        np.testing.assert_array_equal(smooth(np.log(prob), p_self=p_self), expected)


def test_smooth_rejects_bad_parameters():
    with pytest.raises(ParameterError, match="method"):
        smooth(np.zeros((3, 4)), method="hmm")
    with pytest.raises(ParameterError, match="p_self"):
        smooth(np.zeros((3, 4)), p_self=1.0)
    with pytest.raises(ParameterError, match="median_frames"):
        smooth(np.zeros((3, 4)), method="median", median_frames=4)
    with pytest.raises(ParameterError, match="frames"):
        smooth(np.zeros((3, 0)))


class FixedChordModel(nn.Module):
    """A chord model answering fixed per-frame log-probabilities over the full vocabulary (a context-free stand-in
    for ChordNet / FretboardNet), and optionally fixed frets."""

    def __init__(self, per_frame: list[str], frets: tuple | None = None) -> None:
        super().__init__()
        self.labels = ChordVocabulary("full").labels
        self.per_frame = per_frame
        self.frets = frets
        self.frontend = chord_frontend()

    def frame_log_probs(self, cqt: torch.Tensor) -> torch.Tensor:
        n = cqt.shape[-1]
        lp = torch.full((cqt.shape[0], len(self.labels), n), -10.0)
        for t in range(n):
            lp[:, self.labels.index(self.per_frame[min(t * len(self.per_frame) // n, len(self.per_frame) - 1)]), t] = 0
        return torch.log_softmax(lp, dim=1)

    def frame_frets(self, cqt: torch.Tensor) -> torch.Tensor:
        f = torch.tensor([-1 if x is None else x for x in self.frets])
        return f[None, :, None].expand(cqt.shape[0], 6, cqt.shape[-1])


def test_chord_model_posteriors_map_to_majmin():
    model = FixedChordModel(["C:maj7", "A:min7", "B:dim"])
    wrapped = chord_model(model, vocabulary="majmin")
    assert isinstance(wrapped, VocabularyChordModel) and len(wrapped.labels) == 25
    lp = wrapped.frame_log_probs(torch.zeros(1, 192, 30))
    torch.testing.assert_close(lp.exp().sum(dim=1), torch.ones(1, 30), rtol=0, atol=1e-5)
    best = [wrapped.labels[i] for i in lp[0].argmax(dim=0)]
    assert best[:10] == ["C:maj"] * 10 and best[10:20] == ["A:min"] * 10
    # B:dim reduces to X in majmin: its mass is left out, and the rest renormalised
    assert chord_model(model, vocabulary="full").labels == ChordVocabulary("full").labels


def test_unknown_context_model_streams_the_cqt_and_runs_once(example):
    pytest.importorskip("dlmir.chords.fretboard", reason="tablature needs dlmir.chords.fretboard")
    y, sr, _ = example
    model = FixedChordModel(["N", "C:maj", "G:7", "N"], frets=(None, 3, 2, 0, 1, 0))
    rec = ChordRecognizer(model)
    a = rec.analyze_file(example_audio(), block_seconds=2.0, tab=True)
    b = rec.analyze(y, sr, tab=True)
    assert a.labels == b.labels == ["N", "C:maj", "G:7", "N"]
    np.testing.assert_allclose(a.intervals, b.intervals, atol=1e-3)
    assert rec.has_frets and a.shapes == [(None, 3, 2, 0, 1, 0)] * 4
    text = a.tab_text()
    assert "C:maj" in text and "e|" in text and "E|" in text


def test_tablature_from_canonical_shapes(rec):
    pytest.importorskip("dlmir.chords.fretboard", reason="tablature needs dlmir.chords.fretboard")
    res = rec.analyze_file(example_audio(), tab=True)
    assert res.shapes is None  # the learned chroma plays no frets
    text = res.tab_text(columns=4)
    systems = text.split("\n\n")
    assert len(systems) == -(-len(res.labels) // 4)
    assert all(s.startswith("# ") and len(s.splitlines()) == 8 for s in systems)
    assert "C:maj" in systems[0]


def test_template_model_rejects_unknown_variant():
    with pytest.raises(ParameterError, match="unknown chroma"):
        TemplateChordModel("octaves")
    with pytest.raises(ParameterError, match="vocabulary"):
        ChordRecognizer("default", vocabulary="jazz")


def test_fretboard_net_streams_in_blocks_with_its_own_context(example):
    from dlmir.models.fretboard import FretboardNet
    from dlmir.models.io import set_frontend

    torch.manual_seed(0)
    net = set_frontend(FretboardNet(), chord_frontend()).eval()
    left, right = net.streaming_context(CHORD_CQT["hop_length"])
    assert left > 0 and right > 0  # its context frames, not the whole CQT
    y, sr, _ = example
    rec = ChordRecognizer(net)
    with torch.inference_mode():
        cqt = chord_frontend()(torch.from_numpy(y))[0].numpy()
    whole = rec.log_probs(cqt)
    assert whole.shape == (157, cqt.shape[1])
    streamed = rec.analyze_file(example_audio(), block_seconds=2.0)
    one_shot = rec.analyze(y, sr)
    assert streamed.labels == one_shot.labels
    np.testing.assert_allclose(streamed.intervals, one_shot.intervals, rtol=0, atol=1e-3)
