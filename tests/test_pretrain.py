"""dlmir.pretrain: the masked-reconstruction objective, unlabeled excerpts, and fine-tuning from a pre-trained trunk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.models import ChordCNN, ChordNet, InstrumentCNN, save
from dlmir.pretrain import AudioExcerpts, MaskedCQT, draw_masks, find_audio, init_from, read_excerpt, trunk_state


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a busy CPU these small convolutions run ~10x faster than with two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CHORD_TRUNK = {"model": "ChordCNN", "channels": [4, 4, 8, 8], "embedding": 16, "hidden": 16, "temporal_layers": 1}
INSTR_TRUNK = {"model": "InstrumentCNN", "channels": [4, 8, 8, 8], "embedding": 16}


def harmonic_cqt(batch: int = 4, frames: int = 40, seed: int = 0) -> torch.Tensor:
    """CQT-like magnitudes ``(batch, 192, frames)``: per item two harmonic tones (partials at 24 log2(k) bins above a
    random root, amplitude 1/k), each held for a random span."""
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, 192, frames), dtype=np.float32)
    for b in range(batch):
        for _ in range(2):
            root, t0 = int(rng.integers(30, 100)), int(rng.integers(0, frames // 2))
            for k in range(1, 7):
                bin_ = root + int(round(24 * np.log2(k)))
                x[b, bin_, t0 : t0 + frames // 2] += 0.05 / k
    return torch.from_numpy(x)


def test_target_is_the_trunks_input_scale_standardised_per_item():
    model = MaskedCQT(CHORD_TRUNK, seed=0)
    x = harmonic_cqt()
    t = model.target(x).numpy()
    ref = np.log1p(100.0 * x.numpy().astype(np.float64))  # the chord trunk's log(1 + 100 x)
    ref = (ref - ref.mean(axis=(1, 2), keepdims=True)) / ref.std(axis=(1, 2), ddof=1, keepdims=True)
    np.testing.assert_allclose(t, ref, atol=1e-4)


def test_masks_are_blocks_of_the_given_widths():
    g = torch.Generator().manual_seed(0)
    m = draw_masks((64, 192, 100), time_masks=2, time_width=8, pitch_masks=0, pitch_width=0, generator=g)
    per_item = m[:, 0, :].sum(-1)  # masked frames (every bin of a masked frame is masked)
    assert bool((m.all(1) == m.any(1)).all())  # time masks cover all bins
    assert 1 <= int(per_item.min()) and int(per_item.max()) <= 16
    m = draw_masks((64, 192, 100), time_masks=0, time_width=0, pitch_masks=3, pitch_width=24, generator=g)
    assert bool((m.all(2) == m.any(2)).all()) and 1 <= int(m[:, :, 0].sum(-1).min()) <= int(m[:, :, 0].sum(-1).max())
    assert int(m[:, :, 0].sum(-1).max()) <= 72
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    kw = {"time_masks": 2, "time_width": 8, "pitch_masks": 2, "pitch_width": 24}
    assert torch.equal(draw_masks((2, 192, 50), generator=g1, **kw), draw_masks((2, 192, 50), generator=g2, **kw))


@pytest.mark.parametrize("trunk", [CHORD_TRUNK, INSTR_TRUNK], ids=["chord", "instruments"])
def test_a_pretraining_step_lowers_the_loss_on_a_fixed_batch(trunk):
    torch.manual_seed(0)
    model = MaskedCQT(trunk, hidden=32, seed=0)
    x = harmonic_cqt(frames=32 if trunk is CHORD_TRUNK else 87)
    mask = draw_masks(tuple(x.shape), time_masks=2, time_width=6, pitch_masks=2, pitch_width=24,
                      generator=torch.Generator().manual_seed(1))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = model.loss(x, mask=mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        final = float(model.loss(x, mask=mask)[0])
    # standardised targets: an untrained decoder scores about the targets' mean square (~1); training explains
    # much of the masked cells' variance
    assert 0.5 < losses[0] < 2.0
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert final < losses[0]


def _pretrained(tmp_path, trunk, seed=7):
    model = MaskedCQT(trunk, seed=seed)
    with torch.no_grad():  # make the trunk's tensors (batch-norm statistics too) distinctive
        for t in model.trunk.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.1)
    save(model, tmp_path / "pre")
    return model, tmp_path / "pre"


def test_init_copies_the_trunk_exactly_and_nothing_else(tmp_path):
    pre, run = _pretrained(tmp_path, CHORD_TRUNK)
    arch = {k: v for k, v in CHORD_TRUNK.items() if k != "model"}
    for kind in (ChordCNN, ChordNet):
        kw = arch if kind is ChordCNN else {k: v for k, v in arch.items() if k != "temporal_layers"}
        model, fresh = kind(**kw, seed=1), kind(**kw, seed=1)
        record = init_from(model, run)
        want, got = trunk_state(pre), trunk_state(model)
        assert record["tensors"] == len(want) == len(got) and record["family"] == "chord"
        for key in want:
            assert torch.equal(want[key], got[key]), key
        trunk_keys = {"features." + k for k in want}
        for key, value in model.state_dict().items():
            if key not in trunk_keys:  # GRU, temporal convolutions, heads: untouched
                assert torch.equal(value, fresh.state_dict()[key]), key
    pre_i, run_i = _pretrained(tmp_path / "i", INSTR_TRUNK)
    model = InstrumentCNN(channels=[4, 8, 8, 8], embedding=16, seed=1)
    init_from(model, run_i)
    want, got = trunk_state(pre_i), model.state_dict()
    assert all(torch.equal(want[k], got["net." + k]) for k in want)
    fresh = InstrumentCNN(channels=[4, 8, 8, 8], embedding=16, seed=1).state_dict()
    assert torch.equal(got["net.stages.classify.weight"], fresh["net.stages.classify.weight"])  # the head: untouched


def test_init_rejects_a_trunk_that_does_not_fit(tmp_path):
    _, run = _pretrained(tmp_path, CHORD_TRUNK)
    with pytest.raises(ParameterError, match="channels"):
        init_from(ChordCNN(channels=[8, 8, 8, 8], embedding=16), run)
    with pytest.raises(ParameterError, match="embedding"):
        init_from(ChordCNN(channels=[4, 4, 8, 8], embedding=32), run)
    with pytest.raises(ParameterError, match="chord trunk"):
        init_from(InstrumentCNN(channels=[4, 8, 8, 8], embedding=16), run)
    save(ChordCNN(), tmp_path / "plain")
    with pytest.raises(ParameterError, match="not a pre-training run"):
        init_from(ChordCNN(), tmp_path / "plain")


def test_train_chords_records_init(tmp_path):
    from dlmir.train.chords import ChordTrainConfig, train_chords
    from dlmir.train.instruments import InstrumentTrainConfig, NoteArrays, build_model, train_instruments

    pre, run = _pretrained(tmp_path, CHORD_TRUNK)
    model = ChordCNN(**{k: v for k, v in CHORD_TRUNK.items() if k != "model"}, vocabulary="majmin", seed=0)
    x = harmonic_cqt(batch=2, frames=32)
    data = [(x[i], torch.randint(0, 25, (32,))) for i in range(2)]
    cfg = ChordTrainConfig(epochs=1, batch_size=2, patience=0, progress_bar=False)
    train_chords(model, data, None, config=cfg, run_dir=tmp_path / "ft", init=run)
    doc = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert doc["extra"]["train"]["init"]["run"] == str(run.resolve())
    assert doc["extra"]["train"]["init"]["tensors"] == len(trunk_state(pre))
    notes = NoteArrays(np.zeros((2, 192, 87), np.float16), np.zeros((2, 120), np.float32), np.array([0, 1]),
                       np.array([60, 60]), np.array([0, 0]), ["a", "b"], build_model("mlp").classes)  # fmt: skip
    with pytest.raises(ParameterError, match="no convolutional trunk"):
        train_instruments(build_model("mlp"), notes, config=InstrumentTrainConfig(epochs=1), init=run)


def _tone(path, seconds, sr, freq, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, sr)
    return y


def test_excerpts_read_only_their_samples(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    y = _tone(tmp_path / "a" / "long.wav", 20.0, 22050, 220.0, channels=2)
    _tone(tmp_path / "a" / "b" / "short.flac", 1.0, 22050, 330.0)
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    files = find_audio(tmp_path / "a")
    assert [(p.rsplit("/", 1)[-1], round(s, 3)) for p, s in files] == [("short.flac", 1.0), ("long.wav", 20.0)]
    part = read_excerpt(tmp_path / "a" / "long.wav", 12.5, 2.0, 22050)
    np.testing.assert_allclose(part, y[int(12.5 * 22050) : int(14.5 * 22050)], atol=1e-4)  # 16-bit wav
    tail = read_excerpt(tmp_path / "a" / "long.wav", 19.5, 2.0, 22050)
    assert tail.shape == (44100,) and np.all(tail[11025:] == 0)
    data = AudioExcerpts(files, seconds=2.0, items=20, seed=3)
    x = data[0][0]
    assert x.shape == (192, data.frames) and data.frames == int(2.0 * 22050 // 512)  # 86 hops of 512
    assert torch.equal(x, data[0][0])  # (seed, epoch, index) fix the excerpt
    data.set_epoch(1)
    draws = {data.draw(i)[0].rsplit("/", 1)[-1] for i in range(20)}
    assert draws <= {"long.wav", "short.flac"} and "long.wav" in draws  # drawn by duration: mostly the long file


def test_no_audio_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.md").write_text("nothing here")
    with pytest.raises(AudioError, match="no audio found"):
        find_audio(tmp_path / "empty")
    with pytest.raises(AudioError, match="no such file"):
        find_audio(tmp_path / "missing")
