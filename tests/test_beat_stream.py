"""dlmir.data.beat_stream: BeatStream excerpts (audio, beats, bpm) with exact beats checked against the piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlmir.data.beat_stream import BeatStream, excerpt_bpm
from dlmir.data.synth import SOUNDFONTS
from dlmir.errors import ParameterError

HAS_TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() or Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file()
needs_sf = pytest.mark.skipif(not HAS_TIMGM, reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)")
SR = 11025


def test_excerpt_bpm_is_60_over_the_median_interval() -> None:
    assert excerpt_bpm(np.array([0.0, 0.5, 1.0, 1.5])) == pytest.approx(120.0)
    assert excerpt_bpm(np.array([0.0, 0.6, 1.0, 1.6, 2.2])) == pytest.approx(100.0)
    assert np.isnan(excerpt_bpm(np.array([0.3])))


@needs_sf
def test_excerpt_beats_are_the_pieces_beats_shifted_and_the_bpm_is_theirs() -> None:
    stream = BeatStream(
        ["timgm6mb"],
        production="clean",
        seed=3,
        sr=SR,
        excerpt_seconds=4.0,
        arrange_kwargs={"n_chords": 4, "tempo": 100.0},
    )
    y, beats, meta = stream.render_piece(stream.piece_seed(0))
    assert meta["tempo"] == pytest.approx(100.0, rel=0.05)
    # 100 BPM: a beat every 0.6 s (times the production's detune, 1 here: clean)
    np.testing.assert_allclose(np.diff(beats), 0.6, rtol=0.05)
    start = SR * 1  # 1 s in: beats shift by -1 s
    audio, padded, bpm = stream.excerpt(y, beats, start)
    assert audio.shape == (4 * SR,) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, y[start : start + 4 * SR])
    inside = padded[padded >= 0]
    np.testing.assert_allclose(inside, beats[(beats >= 1.0) & (beats < 5.0)] - 1.0, atol=1e-6)
    assert len(inside) in (6, 7) and np.all(padded[len(inside) :] == -1)
    assert float(bpm) == pytest.approx(60.0 / np.median(np.diff(inside)), rel=1e-6)
    assert float(bpm) == pytest.approx(100.0, rel=0.05)


@needs_sf
def test_stream_draws_tempi_over_the_range_and_yields_fixed_shapes() -> None:
    stream = BeatStream(
        ["timgm6mb"],
        production="clean",
        seed=1,
        sr=SR,
        excerpt_seconds=3.0,
        pieces_per_epoch=4,
        max_excerpts_per_piece=1,
        p_uniform_tempo=1.0,
        tempo_range=(60.0, 200.0),
        arrange_kwargs={"n_chords": 3},
    )
    items = list(stream)
    assert len(items) == 4
    bpms = [float(b) for _, _, b in items]
    assert all(55 <= b <= 215 for b in bpms) and len(set(np.round(bpms, 1))) == 4
    assert all(a.shape == (3 * SR,) and beats.shape == (stream.max_beats,) for a, beats, _ in items)


def test_arguments_are_checked() -> None:
    with pytest.raises(ParameterError, match="tempo_range"):
        BeatStream(["timgm6mb"], tempo_range=(10.0, 100.0))
    with pytest.raises(ParameterError, match="production"):
        BeatStream(["timgm6mb"], production="studio")
    with pytest.raises(ParameterError, match="held-out"):
        BeatStream(["fluidr3"], test_soundfont="fluidr3")


def test_beat_excerpts_from_a_folder_tile_tracks_with_their_beats(tmp_path: Path) -> None:
    import soundfile as sf

    from dlmir.data.beat_stream import BeatExcerpts

    sr = 8000
    y = np.random.default_rng(0).normal(0, 0.1, sr * 10).astype(np.float32)  # 10 s
    sf.write(tmp_path / "song.wav", y, sr)
    (tmp_path / "song.beats").write_text(
        "# time position\n" + "".join(f"{0.25 + 0.5 * k:.3f} {k % 4 + 1}\n" for k in range(20))
    )
    ex = BeatExcerpts.from_folder(tmp_path, sr=sr, excerpt_seconds=4.0)
    # excerpts from 0, 4 and 8 s (the last holds 2 s >= half an excerpt, zero padded)
    assert len(ex) == 3
    audio, beats, bpm = ex[2]
    np.testing.assert_allclose(audio[: 2 * sr], y[8 * sr :], atol=1e-4)
    assert np.all(audio[2 * sr :] == 0)
    np.testing.assert_allclose(beats[beats >= 0], [0.25, 0.75, 1.25, 1.75], atol=1e-6)
    assert float(bpm) == pytest.approx(120.0)
