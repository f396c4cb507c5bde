"""Parameter checks shared by filter design and front ends; each raises :class:`~dlmir.errors.ParameterError`."""

from __future__ import annotations

from dlmir.errors import ParameterError


def positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an integer >= 1, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return value


def positive_float(name: str, value: float) -> float:
    """Return ``value`` as float if it is > 0, else raise naming ``name``."""
    try:
        ok = float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def frequency_range(sr: float, fmin: float, fmax: float | None) -> tuple[float, float]:
    """Check ``0 <= fmin < fmax <= sr/2`` (``fmax=None`` means Nyquist) and return ``(fmin, fmax)`` in Hz."""
    nyquist = sr / 2.0
    if fmin < 0:
        raise ParameterError(f"fmin must be >= 0 Hz, got {fmin}")
    fmax = nyquist if fmax is None else float(fmax)
    if fmax > nyquist:
        raise ParameterError(f"fmax={fmax} Hz is above the Nyquist frequency {nyquist} Hz for sr={sr}")
    if not fmin < fmax:
        raise ParameterError(f"fmin={fmin} Hz must be below fmax={fmax} Hz")
    return float(fmin), fmax


def hop_and_window(n_fft: int, hop_length: int | None, win_length: int | None) -> tuple[int, int]:
    """librosa's defaults: ``win_length = n_fft``, ``hop_length = win_length // 4``; checks both."""
    positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must be <= n_fft={n_fft}")
    hop_length = win_length // 4 if hop_length is None else positive_int("hop_length", hop_length)
    return hop_length, win_length
