"""Rhythm: tempo, onsets and beats (estimation, decoding, annotation files, evaluation).

Submodules: :mod:`dlmir.rhythm.tempo` (tempo estimation with :class:`dlmir.frontends.tempo.Tempo` and its
evaluation), :mod:`dlmir.rhythm.onsets` (peak picking on an onset novelty), :mod:`dlmir.rhythm.beats` (beat
tracking consistent with a tempo) and :mod:`dlmir.rhythm.evaluate` (beat and onset scores with mir_eval).
"""
