"""Chord decoding: template scores by hand, Viterbi/median smoothing, segments."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.chords.decode import decode, frames_to_segments, template_scores
from dlmir.errors import ParameterError

C_MAJ = np.zeros(12)
C_MAJ[[0, 4, 7]] = 1
A_MIN = np.zeros(12)
A_MIN[[9, 0, 4]] = 1
TEMPLATES = np.stack([C_MAJ, A_MIN, np.zeros(12)])
LABELS = ["C:maj", "A:min", "N"]


def test_template_scores_by_hand():
    chroma = np.stack([C_MAJ, np.zeros(12), np.ones(12), 5 * C_MAJ + 2], axis=1)  # (12, 4)
    s = template_scores(chroma, TEMPLATES, no_chord_threshold=0.3)
    # centred binary triads: variance 3 - 9/12 = 2.25; C:maj vs A:min share 2 notes: 2 - 9/12 = 1.25
    np.testing.assert_allclose(s[:, 0], [1.0, 1.25 / 2.25, 0.3])
    np.testing.assert_allclose(s[:, 1], [0.0, 0.0, 0.3])  # silence -> N wins
    np.testing.assert_allclose(s[:, 2], [0.0, 0.0, 0.3])  # flat -> N wins
    np.testing.assert_allclose(s[:, 3], s[:, 0])  # invariant to scale and offset


def test_frames_to_segments_places_changes_half_way_between_frame_centres():
    # hop 2 samples at 10 Hz: frames centred at 0, 0.2, 0.4, 0.6, 0.8 s (dlmir.frames); the change between
    # frames 1 and 2 is at their midpoint 0.3 s (not 0.4 s: a half-frame error), the last frame ends 0.1 s
    # after its centre
    intervals, labels = frames_to_segments(["N", "N", "C:maj", "C:maj", "C:maj"], sr=10, hop_length=2)
    np.testing.assert_allclose(intervals, [[0, 0.3], [0.3, 0.9]], rtol=0, atol=1e-12)
    assert labels == ["N", "C:maj"]
    intervals, _ = frames_to_segments(["N", "N", "C:maj", "C:maj", "C:maj"], sr=10, hop_length=2, duration=0.85)
    np.testing.assert_allclose(intervals, [[0, 0.3], [0.3, 0.85]], rtol=0, atol=1e-12)
    intervals, labels = frames_to_segments(["G:7"], sr=10, hop_length=2)
    np.testing.assert_allclose(intervals, [[0, 0.1]])


def test_frames_to_segments_hand_made_chord_changes_at_exact_seconds():
    # 22050 Hz, hop 512: a change at frame k is placed at (k - 1/2) * 512 / 22050 s; one frame off would
    # move it by 0.0232 s and half a frame by 0.0116 s, both far beyond the tolerance
    sr, hop = 22050, 512
    frames = ["N"] * 3 + ["C:maj"] * 40 + ["A:min"] * 17 + ["N"] * 2
    intervals, labels = frames_to_segments(frames, sr=sr, hop_length=hop, duration=61 * hop / sr)
    assert labels == ["N", "C:maj", "A:min", "N"]
    want = np.array([[0.0, 2.5], [2.5, 42.5], [42.5, 59.5], [59.5, 61.0]]) * hop / sr
    np.testing.assert_allclose(intervals, want, rtol=0, atol=1e-9)


def test_frame_labels_of_segments_is_identity():
    from dlmir.annotations import frame_labels

    rng = np.random.default_rng(0)
    for sr, hop in ((22050, 512), (44100, 441), (16000, 160), (10, 2)):
        labels = [
            ["N", "C:maj", "A:min", "G:7"][i] for i in np.repeat(rng.integers(4, size=30), rng.integers(1, 5, 30))
        ]
        intervals, seg_labels = frames_to_segments(labels, sr=sr, hop_length=hop)
        assert frame_labels(intervals, seg_labels, len(labels), sr=sr, hop_length=hop) == labels


@pytest.mark.parametrize("method", ["viterbi", "median"])
def test_smoothing_removes_isolated_frame_errors(method):
    frames = [C_MAJ] * 20 + [A_MIN] + [C_MAJ] * 20 + [A_MIN] * 20
    chroma = np.stack(frames, axis=1) + 0.05
    intervals, labels = decode(chroma, sr=22050, hop_length=512, templates=TEMPLATES, labels=LABELS, method=method)
    assert labels == ["C:maj", "A:min"]
    assert intervals[1, 0] == pytest.approx(40.5 * 512 / 22050)  # half-way between frames 40 and 41
    _, raw = decode(chroma, templates=TEMPLATES, labels=LABELS, method="none")
    assert raw == ["C:maj", "A:min", "C:maj", "A:min"]


def test_decode_errors():
    with pytest.raises(ParameterError):
        decode(np.zeros((11, 4)), templates=TEMPLATES, labels=LABELS)
    with pytest.raises(ParameterError):
        decode(np.zeros((12, 4)), templates=TEMPLATES, labels=LABELS, method="beam")


# -- the loop-HMM Viterbi: against the straightforward O(n) recursion, kept here as the oracle ---------------
def _reference_viterbi_loop(log_probs: np.ndarray, p_self: float) -> np.ndarray:
    """The former ``dlmir.chords.recognition._viterbi_loop``, verbatim from when :func:`viterbi_loop` replaced it: one
    frame at a time, every state's two candidate predecessors (itself, or the best other state) compared
    explicitly, ties to the lower index."""
    n, t_max = log_probs.shape
    if n == 1:
        return np.zeros(t_max, dtype=np.int64)
    tiny = np.finfo(np.float64).tiny
    log_self = np.log(p_self + tiny)
    log_move = np.log((1.0 - p_self) / (n - 1) + tiny)
    states = np.arange(n)
    ptr = np.empty((t_max, n), dtype=np.uint16 if n < 2**16 else np.int64)
    value = log_probs[:, 0].astype(np.float64)
    for t in range(1, t_max):
        m1 = int(np.argmax(value))
        v1 = value[m1]
        value[m1] = -np.inf
        m2 = int(np.argmax(value))
        v2 = value[m2]
        value[m1] = v1
        other = np.full(n, m1)
        other[m1] = m2
        other_val = np.full(n, v1 + log_move)
        other_val[m1] = v2 + log_move
        self_val = value + log_self
        take_self = (self_val > other_val) | ((self_val == other_val) & (states < other))
        ptr[t] = np.where(take_self, states, other)
        value = np.where(take_self, self_val, other_val) + log_probs[:, t]
    path = np.empty(t_max, dtype=np.int64)
    path[-1] = int(np.argmax(value))
    for t in range(t_max - 1, 0, -1):
        path[t - 1] = ptr[t, path[t]]
    return path


def _posteriors(rng: np.random.Generator, n: int, frames: int, kind: str) -> np.ndarray:
    """Log-posteriors ``(n, frames)``: random (peaky or flat), with ties, or with impossible classes."""
    lp = np.log(rng.dirichlet(np.full(n, rng.choice([0.05, 0.3, 3.0])), size=frames).T + 1e-30)
    if kind == "ties":  # few distinct values: equal scores between states and between the two candidates
        lp = np.round(lp * 2) / 2
        lp[:, rng.integers(0, frames, size=max(1, frames // 10))] = -1.0  # flat frames: every state tied
    elif kind == "impossible":  # -inf for some classes, and now and then for all but one
        lp[rng.random(lp.shape) < 0.3] = -np.inf
        lp[:, ::17] = -np.inf
        lp[rng.integers(0, n), ::17] = 0.0
    return lp


@pytest.mark.parametrize("kind", ["random", "ties", "impossible"])
@pytest.mark.parametrize("n", [2, 3, 25, 157])
def test_viterbi_loop_equals_reference(kind, n):
    from dlmir.chords.decode import viterbi_loop

    rng = np.random.default_rng(n)
    for trial in range(6):
        frames = int(rng.integers(1, 400))
        lp = _posteriors(rng, n, frames, kind).astype(np.float32 if trial % 2 else np.float64)
        for p_self in (0.9, 0.5, 0.99, 0.3):
            want = _reference_viterbi_loop(lp, p_self)
            got = viterbi_loop(lp, p_self)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want, err_msg=f"{kind} n={n} frames={frames} p_self={p_self}")


def test_viterbi_loop_general_frames_equal_reference(monkeypatch):
    """Frames where the best state itself may move (p_self below 1 / n; all states at -inf; NaN), and float64
    blocks of a few frames (the block seams)."""
    from dlmir.chords import decode

    monkeypatch.setattr(decode, "_VITERBI_BLOCK", 7)
    rng = np.random.default_rng(7)
    for n in (2, 5, 30):
        lp = _posteriors(rng, n, 120, "ties")
        for p_self in (0.1 / n, 1.0 / n, 0.9):
            np.testing.assert_array_equal(decode.viterbi_loop(lp, p_self), _reference_viterbi_loop(lp, p_self))
        lp = _posteriors(rng, n, 120, "random")
        lp[:, 40:43] = -np.inf  # every state impossible: all values -inf from there on
        np.testing.assert_array_equal(decode.viterbi_loop(lp, 0.9), _reference_viterbi_loop(lp, 0.9))
        lp = _posteriors(rng, n, 120, "random")
        lp[rng.integers(0, n), 60] = np.nan
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(decode.viterbi_loop(lp, 0.9), _reference_viterbi_loop(lp, 0.9))


def test_viterbi_loop_hand_made_paths():
    from dlmir.chords.decode import viterbi_loop

    a, b = np.log(0.8), np.log(0.2)
    # state 0 for 10 frames, one frame leaning to 1 (too short to pay two switches), then 1 for 10 frames
    lp = np.array([[a] * 10 + [b] + [a] * 3 + [b] * 10, [b] * 10 + [a] + [b] * 3 + [a] * 10])
    np.testing.assert_array_equal(viterbi_loop(lp, 0.9), [0] * 14 + [1] * 10)
    # with a weak self-transition the blip is kept
    np.testing.assert_array_equal(viterbi_loop(lp, 0.5), [0] * 10 + [1] + [0] * 3 + [1] * 10)
    # all states tied everywhere: the lowest index
    np.testing.assert_array_equal(viterbi_loop(np.full((4, 6), np.log(0.25)), 0.9), [0] * 6)
    # exact ties between staying (log p_self + x) and moving from the best state (log p_move + y): the lower
    # index wins, so a state below the best one stays and a state above it moves
    tiny = np.finfo(np.float64).tiny
    log_self, log_move = np.log(0.9 + tiny), np.log((1.0 - 0.9) / 2 + tiny)  # 3 states
    x = next(x for x in -np.linspace(1, 2, 101) if (x + log_self - log_move) + log_move == x + log_self)
    y = x + log_self - log_move
    lp = np.array([[x, 0.0], [-50.0, -50.0], [y, -50.0]])  # best state 2, state 0 ties: stays
    np.testing.assert_array_equal(viterbi_loop(lp, 0.9), [0, 0])
    lp = np.array([[y, -50.0], [-50.0, -50.0], [x, 0.0]])  # best state 0, state 2 ties: moves from 0
    np.testing.assert_array_equal(viterbi_loop(lp, 0.9), [0, 2])
    np.testing.assert_array_equal(_reference_viterbi_loop(lp, 0.9), [0, 2])
    np.testing.assert_array_equal(viterbi_loop(lp[:, :1], 0.9), [0])  # one frame: its arg-max
    np.testing.assert_array_equal(viterbi_loop(np.zeros((1, 5)), 0.9), np.zeros(5))  # one state
    with pytest.raises(ParameterError):
        viterbi_loop(lp, 1.0)
    with pytest.raises(ParameterError):
        viterbi_loop(np.zeros((3, 0)), 0.9)


def test_viterbi_loop_equals_librosa_on_random_posteriors():
    import librosa

    from dlmir.chords.decode import viterbi_loop

    rng = np.random.default_rng(3)
    for n in (3, 25):
        prob = rng.dirichlet(np.full(n, 0.3), size=300).T
        want = librosa.sequence.viterbi_discriminative(prob, librosa.sequence.transition_loop(n, 0.9))
        np.testing.assert_array_equal(viterbi_loop(np.log(prob), 0.9), want)
