"""Chord models (FretboardNet, ChordNet): overfitting a tiny batch of sine chords, sliding-window inference,
save/load round trips, losses and structured targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from chord_fixtures import guitar_chord

from dlmir.chords import VOCAB
from dlmir.chords.fretboard import fretboard_templates
from dlmir.data.frames import context_patch, pad_context
from dlmir.errors import ParameterError
from dlmir.frontends.presets import CHORD_CQT, chord_frontend
from dlmir.models import build, load, save
from dlmir.models.chords import ChordNet, structured_targets
from dlmir.models.fretboard import FretboardNet, FretboardOutput

LABELS = ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "E:7", "B:dim", "N"]
SR = 22050


def _small_fretboard(**kw) -> FretboardNet:
    args = {"context": 4, "channels": (8, 16, 16), "kernels": ((3, 13), (3, 13), (3, 9)),
            "pools": ((1, 2), (1, 2), (1, 2)), "hidden": 64, "dropout": 0.0, "seed": 1}  # fmt: skip
    return FretboardNet(**{**args, **kw})


def _small_chordnet(**kw) -> ChordNet:
    args = {"channels": (8, 8), "pitch_pool": (2, 2), "embedding": 32, "hidden": 32, "dropout": 0.0, "seed": 0}
    return ChordNet(**{**args, **kw})


@pytest.fixture(scope="module")
def chord_cqts() -> tuple[torch.Tensor, torch.Tensor]:
    """CQT magnitudes ``(8, 192, 22)`` of 0.5 s of 8 distinct chords (the chord CQT), and their class indices."""
    rng = np.random.default_rng(0)
    audio = torch.from_numpy(np.stack([guitar_chord(lab, 0.5, rng) for lab in LABELS]))
    with torch.no_grad():
        cqt = chord_frontend()(audio).float()
    return cqt, torch.tensor([VOCAB.index(lab) for lab in LABELS])


@pytest.fixture
def one_thread():
    """Tiny models on a shared CPU: one thread avoids oversubscription (the GRU's many small products were
    10x slower with 2 threads on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _overfit(model, batch, loss_fn, correct, *, lr=1e-2, max_steps=200):
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = None
    for step in range(max_steps + 1):
        out = model(batch)
        loss = loss_fn(out)
        first = float(loss.detach()) if first is None else first
        if float(loss.detach()) < 0.1 * first and correct(out):
            return first, float(loss.detach()), step
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, float(loss.detach()), step


def test_fretboard_net_overfits_eight_sine_chords(chord_cqts, one_thread):
    cqt, idx = chord_cqts
    centre = cqt.shape[-1] // 2
    patches = cqt[:, :, centre - 4 : centre + 5].transpose(1, 2).unsqueeze(1)  # (8, 1, 9, 192)
    model = _small_fretboard()
    first, last, step = _overfit(
        model, patches, lambda out: model.loss(out, idx), lambda out: bool((out.logits.argmax(1) == idx).all())
    )
    assert last < 0.1 * first, (first, last)
    assert step <= 200
    with torch.no_grad():
        out = model(patches)
    assert (out.logits.argmax(1) == idx).all()
    # the fretboard the network plays for C:maj is the open C shape
    assert tuple(int(s) for s in out.frets[0].argmax(-1)) == (0, 4, 3, 1, 2, 1)


def test_chord_net_overfits_eight_sine_chord_sequences(chord_cqts, one_thread):
    cqt, idx = chord_cqts
    frames = cqt.shape[-1]
    seqs = torch.cat([cqt, cqt.roll(-1, 0)], dim=-1)  # each sequence: one chord, then the next
    labels = torch.cat([idx[:, None].expand(8, frames), idx.roll(-1, 0)[:, None].expand(8, frames)], dim=1)
    model = _small_chordnet()
    first, last, step = _overfit(
        model, seqs, lambda out: model.loss(out, labels), lambda out: bool((out["chord"].argmax(1) == labels).all())
    )
    assert last < 0.1 * first, (first, last)
    assert step <= 200
    with torch.no_grad():
        out = model(seqs)
    assert (out["chord"].argmax(1) == labels).all()
    assert (out["root"].argmax(1)[:, 0] == torch.tensor([0, 7, 9, 5, 2, 4, 11, 12])).all()


def test_fretboard_frames_equal_patch_forward():
    model = _small_fretboard().eval()
    cqt = torch.rand(2, 192, 30) * 0.05
    with torch.no_grad():
        lp = model.frame_log_probs(cqt, chunk_frames=7)
        frets = model.frames(cqt, output="frets", chunk_frames=64)
        logits = model.frames(cqt[0], output="logits")
    assert lp.shape == (2, 157, 30)
    assert frets.shape == (2, 6, 14, 30)
    assert logits.shape == (1, 157, 30)
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(2, 30))
    for b in (0, 1):
        padded = pad_context(cqt[b].numpy(), 4)  # how ChordDataset cuts its patches
        for t in (0, 1, 3, 15, 26, 29):
            with torch.no_grad():
                out = model(context_patch(padded, t, 4).unsqueeze(0))
            torch.testing.assert_close(lp[b, :, t], torch.log_softmax(out.logits[0], 0), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(frets[b, :, :, t], out.frets[0], rtol=1e-5, atol=1e-6)


def test_chord_net_frame_log_probs_chunked_equals_one_shot(one_thread):
    model = _small_chordnet(dropout=0.3).eval()
    cqt = torch.rand(2, 192, 50) * 0.05
    with torch.no_grad():
        whole = model.frame_log_probs(cqt, chunk_frames=1000)
        chunked = model.frame_log_probs(cqt, chunk_frames=7)
        out = model(cqt)
    assert whole.shape == (2, 157, 50)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "root": (2, 13, 50), "bass": (2, 13, 50), "pitch_classes": (2, 12, 50), "chord": (2, 157, 50)
    }  # fmt: skip
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(whole.exp().sum(1), torch.ones(2, 50))


@pytest.mark.parametrize(("structured", "vocabulary"), [(True, "full"), (False, "majmin")])
@pytest.mark.parametrize("chunk_frames", [1, 7, 16, 49])
def test_chord_net_chunked_gru_equals_one_shot_gru(structured, vocabulary, chunk_frames, one_thread):
    """Eval mode, longer than a chunk: the GRU runs one direction at a time over chunks, carrying its state;
    oracle: the one-shot path (``nn.GRU`` over every frame, the heads over everything)."""
    model = _small_chordnet(structured=structured, vocabulary=vocabulary, dropout=0.3).eval()
    torch.manual_seed(1)
    cqt = torch.rand(2, 192, 50) * 0.05
    with torch.no_grad():
        want = torch.log_softmax(model(cqt)["chord"], dim=1)  # forward: no chunks at all
        one_shot = model.frame_log_probs(cqt, chunk_frames=None)
        got = model.frame_log_probs(cqt, chunk_frames=chunk_frames)
        single = model.frame_log_probs(cqt[1], chunk_frames=chunk_frames)  # (n_bins, frames): a batch of one
    assert got.shape == (2, len(model.labels), 50) and single.shape == (1, len(model.labels), 50)
    torch.testing.assert_close(one_shot, want, rtol=0, atol=0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(single[0], want[1], rtol=1e-5, atol=1e-5)


def test_chord_net_chunked_gru_carries_both_directions_across_chunks(one_thread):
    """The equality above has power: the first frame's output depends on the last chunk (backward direction)
    and the last frame's on the first chunk (forward direction), by far more than the tolerance."""
    model = _small_chordnet().eval()
    torch.manual_seed(2)
    cqt = torch.rand(1, 192, 40) * 0.05
    changed = cqt.clone()
    changed[..., :5] = 0.5 * torch.rand(1, 192, 5)
    changed[..., -5:] = 0.5 * torch.rand(1, 192, 5)
    with torch.no_grad():
        a = model.frame_log_probs(cqt, chunk_frames=8)
        b = model.frame_log_probs(changed, chunk_frames=8)
        b_whole = model.frame_log_probs(changed, chunk_frames=None)
    assert (a[..., 0] - b[..., 0]).abs().max() > 1e-3  # frame 0 saw frames 35-39 (4 chunks away)
    assert (a[..., -1] - b[..., -1]).abs().max() > 1e-3  # frame 39 saw frames 0-4
    torch.testing.assert_close(b, b_whole, rtol=1e-5, atol=1e-5)


def test_chord_net_chunked_gradients_and_training_mode(one_thread):
    model = _small_chordnet(dropout=0.3)
    torch.manual_seed(3)
    cqt = torch.rand(1, 192, 30) * 0.05
    # training mode ignores chunk_frames: the one-shot forward (batch statistics, dropout), gradients intact
    torch.manual_seed(4)
    train = model.frame_log_probs(cqt, chunk_frames=4)
    torch.manual_seed(4)
    want = torch.log_softmax(model(cqt)["chord"], dim=1)
    assert train.requires_grad
    torch.testing.assert_close(train, want, rtol=0, atol=0)
    # eval mode with gradients on: the chunked path is differentiable, with the one-shot gradients
    model.eval()
    grads = []
    for chunk_frames in (None, 7):
        x = cqt.clone().requires_grad_(True)
        model.zero_grad()
        model.frame_log_probs(x, chunk_frames=chunk_frames)[0, 3].sum().backward()
        grads.append((x.grad.clone(), model.gru.weight_hh_l0_reverse.grad.clone()))
    for g_chunked, g_whole in zip(grads[1], grads[0], strict=True):
        assert g_whole.abs().max() > 0
        torch.testing.assert_close(g_chunked, g_whole, rtol=1e-4, atol=1e-6)


def test_shipped_chord_net_chunked_equals_one_shot(one_thread):
    """The shipped model on an input of several chunks (default chunk of 2048 frames, and 500)."""
    model = load("chordnet")
    assert not model.training
    torch.manual_seed(5)
    cqt = torch.rand(1, 192, 2600) * 0.02
    with torch.inference_mode():
        whole = model.frame_log_probs(cqt, chunk_frames=None)
        default = model.frame_log_probs(cqt)
        small = model.frame_log_probs(cqt, chunk_frames=500)
    torch.testing.assert_close(default, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(small, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [_small_fretboard, _small_chordnet])
def test_save_load_round_trip(tmp_path, make):
    model = make()
    cqt = torch.rand(2, 192, 12) * 0.05
    model.train()
    with torch.no_grad():
        model.frame_log_probs(cqt)  # move the batch-norm statistics away from their start
    model.eval()
    with torch.no_grad():
        expected = model.frame_log_probs(cqt)
    folder = save(model, tmp_path / "m")
    doc = json.loads((folder / "config.json").read_text())
    assert doc["model"]["model"] == type(model).__name__
    assert doc["frontend"] == json.loads(json.dumps(CHORD_CQT))
    assert doc["vocabulary"].startswith("chords (full")
    loaded = load(folder)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.frontend.config == chord_frontend().config
    with torch.no_grad():
        got = loaded.frame_log_probs(cqt)
    assert torch.equal(got, expected)
    rebuilt = build(doc["model"])
    assert rebuilt.config == model.config


def test_default_architectures():
    fb = FretboardNet(seed=0).eval()
    with torch.no_grad():
        out = fb(torch.rand(3, 1, 21, 192))
    assert isinstance(out, FretboardOutput)
    assert out.frets.shape == (3, 6, 14) and out.logits.shape == (3, 157)
    torch.testing.assert_close(out.frets.sum(-1), torch.ones(3, 6))
    assert fb.labels == VOCAB.labels
    assert fb.streaming_context(512) == (10 * 512, 10 * 512)
    torch.testing.assert_close(fb["rbf"].templates, torch.as_tensor(fretboard_templates()))
    assert not fb["rbf"].templates.requires_grad
    assert FretboardNet(trainable_templates=True)["rbf"].templates.requires_grad
    cn = ChordNet(seed=0).eval()
    assert cn.labels == VOCAB.labels
    with torch.no_grad():
        assert cn.frame_log_probs(torch.rand(1, 192, 20)).shape == (1, 157, 20)
    assert ChordNet(vocabulary="majmin", seed=0).frame_log_probs(torch.rand(1, 192, 5)).shape == (1, 25, 5)


def test_rbf_scores_rank_templates_by_distance():
    model = _small_fretboard()
    templates = torch.as_tensor(fretboard_templates())
    logits = model["rbf"](templates[[0, 7, 156]])  # C:maj, C:dim and N played exactly
    assert logits.argmax(1).tolist() == [0, 7, 156]
    torch.testing.assert_close(logits[:, [0, 7, 156]].diagonal(), torch.zeros(3))


def test_fretboard_losses():
    model = _small_fretboard()
    patches = torch.rand(4, 1, 9, 192) * 0.05
    idx = torch.tensor([0, 13, -1, 156])
    out = model(patches)
    valid = idx >= 0
    pure = model.loss(out, idx, calibration=0.0)
    mse = torch.nn.functional.mse_loss(out.frets[valid], torch.as_tensor(fretboard_templates())[idx[valid]])
    torch.testing.assert_close(pure, mse)
    ce = model.loss(out, idx, kind="ce")
    torch.testing.assert_close(ce, torch.nn.functional.cross_entropy(out.logits[valid], idx[valid]))
    torch.testing.assert_close(model.loss(out, idx, kind="mse+ce", ce_weight=0.5), mse + 0.5 * ce)
    # the calibration term reaches only the RBF scale
    fit = model.loss(out, idx) - pure
    grads = torch.autograd.grad(fit, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    named = [n for n, p in model.named_parameters() if p.requires_grad]
    for name, g in zip(named, grads, strict=True):
        if name.endswith("log_scale"):
            assert g is not None and float(g.abs()) > 0
        else:
            assert g is None or float(g.abs().max()) == 0.0, name
    assert float(model.loss(out, torch.full((4,), -1)).detach()) == 0.0
    with pytest.raises(ParameterError, match="loss kind"):
        model.loss(out, idx, kind="hinge")


def test_structured_targets_hand_values():
    idx = torch.tensor([[VOCAB.index("G:min"), VOCAB.index("N"), -1, VOCAB.index("Bb:7")]])
    t = structured_targets(idx)
    assert t["root"].tolist() == [[7, 12, -1, 10]]
    assert t["bass"].tolist() == [[7, 12, -1, 10]]
    assert t["pitch_classes"].shape == (1, 4, 12)
    assert t["pitch_classes"][0, 0].nonzero().flatten().tolist() == [2, 7, 10]
    assert t["pitch_classes"][0, 1].sum() == 0 and t["pitch_classes"][0, 2].sum() == 0
    assert t["pitch_classes"][0, 3].nonzero().flatten().tolist() == [2, 5, 8, 10]
    with pytest.raises(ParameterError, match="class indices"):
        structured_targets(torch.tensor([157]))


def test_chord_net_loss_is_weighted_sum_and_ignores_frames():
    model = _small_chordnet()
    cqt = torch.rand(2, 192, 6) * 0.05
    idx = torch.tensor([[0, 0, 13, 13, -1, -1], [156, 156, 7, 7, 7, -1]])
    out = model(cqt)
    only_chord = model.loss(out, idx, weights={"root": 0, "bass": 0, "pitch_classes": 0})
    torch.testing.assert_close(only_chord, torch.nn.functional.cross_entropy(out["chord"], idx, ignore_index=-1))
    only_root = model.loss(out, idx, weights={"chord": 0, "root": 1.0, "bass": 0, "pitch_classes": 0})
    roots = structured_targets(idx)["root"]
    torch.testing.assert_close(only_root, torch.nn.functional.cross_entropy(out["root"], roots, ignore_index=-1))
    with pytest.raises(ParameterError, match="unknown heads"):
        model.loss(out, idx, weights={"key": 1.0})


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: FretboardNet(context=0), "leaves no output"),
        (lambda: FretboardNet(channels=(8, 8)), "one entry per convolution"),
        (lambda: FretboardNet(vocabulary="jazz"), "vocabulary"),
        (lambda: _small_fretboard()(torch.zeros(2, 1, 21, 192)), "patches"),
        (lambda: _small_fretboard().frames(torch.zeros(1, 100, 5)), "CQT magnitude"),
        (lambda: _small_fretboard().frames(torch.zeros(1, 192, 5), output="chroma"), "output"),
        (lambda: ChordNet(pitch_pool=(2,)), "pitch_pool"),
        (lambda: ChordNet(dropout=1.0), "dropout"),
        (lambda: _small_chordnet()(torch.zeros(1, 84, 10)), "CQT magnitude"),
    ],
)
def test_invalid_arguments_raise(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
