"""NoteStream: an excerpt's roll is the notes of the arrangement that made it (regenerated independently from
the piece seed, checked frame by frame); two workers never render the same piece; a rendered piano note's
onset (librosa.onset) lands within a frame of its roll onset; the detune stays within +-max_cents."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pretty_midi
import pytest
from torch.utils.data import DataLoader

from dlmir.data.note_stream import NoteStream, collate
from dlmir.data.synth import SOUNDFONTS

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() and not Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file(),
    reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)",
)
SF = ["timgm6mb"]


def _cents(time_scale: float) -> float:
    return float(-1200.0 * np.log2(time_scale))


def test_roll_is_the_arrangements_notes() -> None:
    from dlmir.data.arrangements import arrange
    from dlmir.data.render_stream import draw_piece

    stream = NoteStream(
        SF,
        seed=5,
        seconds=3.0,
        sources={"arrangement": 1.0},
        arrange_kwargs={"n_chords": 3},
        pieces_per_epoch=1,
        return_info=True,
    )
    items = list(stream)
    assert items, "no excerpt"
    item, info = items[0]
    assert item["audio"].shape == (66150,) and item["audio"].dtype == np.float32
    n_frames = 1 + 66150 // 256
    assert item["frames"].shape == item["onsets"].shape == item["offsets"].shape == (88, n_frames) == (88, 259)
    assert abs(_cents(info["time_scale"])) <= 25.0 + 1e-9
    # the oracle: the arrangement again from the piece seed, notes straight from pretty_midi
    s_arr, *_ = draw_piece(info["seed"], SF, stream.excerpt_samples)
    arr = arrange(seed=s_arr, n_chords=3)
    ts = info["time_scale"]
    midi_notes = [
        (n.start * ts, n.end * ts, n.pitch)
        for pm in arr.parts.values()
        for inst in pm.instruments
        if not inst.is_drum
        for n in inst.notes
    ]
    assert any(inst.is_drum for pm in arr.parts.values() for inst in pm.instruments) or "drums" not in arr.parts
    checked = 0
    for _item, inf in items:
        t_start = inf["start"] / 22050
        for k in range(n_frames):
            t = t_start + k * 256 / 22050
            want = sorted({p for a, b, p in midi_notes if a <= t < b and 21 <= p <= 108})
            got = (np.flatnonzero(_item["frames"][:, k]) + 21).tolist()
            assert got == want, f"frame {k} at {t:.3f} s"
            checked += bool(want)
        for a, _b, p in midi_notes:  # every onset inside the excerpt is marked at its nearest frame
            k = int(np.floor((a - t_start) * 22050 / 256 + 0.5))
            if 0 <= k < n_frames and a >= t_start:
                assert _item["onsets"][p - 21, k] == 1.0
        # and nothing else: notes sounding across the excerpt's start have no onset mark at frame 0
        n_on = len(
            {
                (p, int(np.floor((a - t_start) * 22050 / 256 + 0.5)))
                for a, _b, p in midi_notes
                if t_start <= a and (a - t_start) * 22050 / 256 < n_frames - 0.5 and 21 <= p <= 108
            }
        )
        assert _item["onsets"].sum() == n_on
    assert checked > 100  # frames with notes were compared


def test_workers_never_repeat_a_piece() -> None:
    stream = NoteStream(
        SF,
        seed=1,
        seconds=1.0,
        sources={"progression": 1.0},
        piece_seconds=2.0,
        pieces_per_epoch=4,
        max_excerpts_per_piece=1,
        return_info=True,
    )
    seen = []
    for epoch in range(2):
        stream.set_epoch(epoch)
        loader = DataLoader(stream, batch_size=1, num_workers=2, collate_fn=collate)
        for batch, infos in loader:
            assert batch["audio"].shape == (1, 22050) and batch["frames"].shape == (1, 88, 87)
            seen.append((tuple(infos[0]["seed"]), tuple(infos[0]["piece"]["seed"]), batch["audio"][0].numpy()))
    seeds = [s for s, _, _ in seen]
    assert len(seeds) == 8 and len(set(seeds)) == 8
    assert sorted(seeds) == sorted((1, e, 0, 0, k, 3) for e in (0, 1) for k in range(4))
    assert len({p for _, p, _ in seen}) == 8  # every piece generated from its own seed
    for i in range(len(seen)):
        for j in range(i):
            assert not np.allclose(seen[i][2], seen[j][2])


@pytest.mark.parametrize("production", ["clean", "realistic"])
def test_piano_note_onset_within_a_frame(production: str) -> None:
    stream = NoteStream(SF, production=production, seed=0)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(100, 60, 0.7, 1.4))
    midi.instruments.append(piano)
    y, record = stream.render_midi(midi, "timgm6mb", 2.0, production_seed=3)
    from dlmir.data.notes import notes_from_midi, piano_roll

    ts = float(record["detune"]["time_scale"])
    assert abs(_cents(ts)) <= 25.0 + 1e-9
    notes = notes_from_midi(midi, time_scale=ts)
    roll = piano_roll(notes, 1 + len(y) // 256, 22050 / 256)
    k_roll = int(np.flatnonzero(roll["onsets"][60 - 21])[0])
    assert k_roll == round(0.7 * ts * 22050 / 256)
    # librosa's onset, backtracked to the energy minimum before it: where the note's energy starts
    onsets = librosa.onset.onset_detect(y=y, sr=22050, hop_length=256, backtrack=True)
    assert len(onsets) == 1 and abs(int(onsets[0]) - k_roll) <= 1, (onsets, k_roll)
    # and the frame RMS first crosses a tenth of its peak within a frame of it too
    rms = librosa.feature.rms(y=y, frame_length=512, hop_length=256)[0]
    assert abs(int(np.argmax(rms > 0.1 * rms.max())) - k_roll) <= 1


def test_chorale_pieces_are_train_chorales_transposed() -> None:
    from dlmir.data.build import split_of
    from dlmir.data.chorales import chorale_tune, generate_chorale

    stream = NoteStream(SF, seed=2, seconds=2.0, sources={"chorale": 1.0}, piece_seconds=4.0, pieces_per_epoch=2)
    for k in range(2):
        y, notes, meta = stream.render_piece(stream.piece_seed(k))
        piece = meta["piece"]
        assert split_of(chorale_tune(piece["number"])) == "train"  # built valid/test chorales stay unheard
        assert -5 <= piece["transpose"] <= 6 and abs(_cents(meta["time_scale"])) <= 25.0 + 1e-9
        again = generate_chorale(piece["number"], piece["seed"], max_beats=4)  # the oracle: the score again
        want = sorted(
            (round(n.start * meta["time_scale"], 9), n.pitch + piece["transpose"])
            for inst in again.midi.instruments
            for n in inst.notes
        )
        assert sorted(zip(np.round(notes.onset, 9).tolist(), notes.pitch.tolist(), strict=True)) == want
        assert len(y) == round(again.duration * meta["time_scale"] * 22050)
