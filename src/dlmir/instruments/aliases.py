"""Class names of real note collections mapped onto dlmir's 15 instrument classes.

dlmir's classes are the keys of :data:`dlmir.data.instruments.INSTRUMENTS` (``piano``, ``acoustic_guitar``,
``violin``, ``viola``, ``cello``, ``contrabass``, ``trumpet``, ``trombone``, ``tuba``, ``french_horn``,
``alto_sax``, ``oboe``, ``bassoon``, ``clarinet``, ``flute``). A folder of real labelled notes
(``dlmir evaluate instruments MODEL DIR``: one sub-folder per class) may name them otherwise; :func:`canonical`
maps a name to a class. Names are compared after lower-casing and turning spaces, hyphens and dots into
underscores, so ``"Double Bass"``, ``"double-bass"`` and ``"double_bass"`` are the same name.

The alias table (:data:`ALIASES`), as in the IRMAS, Philharmonia, NSynth, RWC and MedleyDB naming:

========================  ======================================================================
class                     also called
========================  ======================================================================
piano                     acoustic grand piano, grand piano, pia, pno, keyboard (NSynth), keys
acoustic_guitar           guitar, classical guitar, nylon guitar, gac, gtr
violin                    vln, vn, violin section, fiddle
viola                     vla, va
cello                     violoncello, vc, vlc
contrabass                double bass, bass (string), upright bass, string bass, acoustic bass, cb, db
trumpet                   tru, tpt, bb trumpet, c trumpet, cornet
trombone                  tbn, trb, tenor trombone, bass trombone
tuba                      tba, tb
french_horn               horn, french horn, hn, hrn
alto_sax                  alto saxophone, saxophone, sax, sax alto, as, asx
oboe                      ob, cor anglais, english horn
bassoon                   bsn, fagotto, fg, contrabassoon
clarinet                  cla, cl, bb clarinet, bass clarinet
flute                     flu, fl, piccolo, alto flute
========================  ======================================================================

Aliases that name a *near* instrument (cornet, piccolo, English horn, bass clarinet, contrabassoon) are mapped to
its closest class, since dlmir has no class of its own for them; a model can only answer with its classes.
"""

from __future__ import annotations

import re

from dlmir.errors import ParameterError

__all__ = ["ALIASES", "canonical", "normalize_name"]

ALIASES: dict[str, tuple[str, ...]] = {
    "piano": ("acoustic grand piano", "grand piano", "pia", "pno", "keyboard", "keys"),
    "acoustic_guitar": ("guitar", "classical guitar", "nylon guitar", "gac", "gtr"),
    "violin": ("vln", "vn", "violin section", "fiddle"),
    "viola": ("vla", "va"),
    "cello": ("violoncello", "vc", "vlc"),
    "contrabass": ("double bass", "bass", "upright bass", "string bass", "acoustic bass", "cb", "db"),
    "trumpet": ("tru", "tpt", "bb trumpet", "c trumpet", "cornet"),
    "trombone": ("tbn", "trb", "tenor trombone", "bass trombone"),
    "tuba": ("tba", "tb"),
    "french_horn": ("horn", "hn", "hrn"),
    "alto_sax": ("alto saxophone", "saxophone", "sax", "sax alto", "as", "asx"),
    "oboe": ("ob", "cor anglais", "english horn"),
    "bassoon": ("bsn", "fagotto", "fg", "contrabassoon"),
    "clarinet": ("cla", "cl", "bb clarinet", "bass clarinet"),
    "flute": ("flu", "fl", "piccolo", "alto flute"),
}
"""dlmir class -> the other names it goes by (module docstring)."""


def normalize_name(name: str) -> str:
    """``name`` lower-cased, with runs of spaces, hyphens, dots and underscores turned into one underscore."""
    return re.sub(r"[\s\-._]+", "_", str(name).strip().lower()).strip("_")


def _table() -> dict[str, str]:
    from dlmir.data.instruments import INSTRUMENTS

    table = {normalize_name(c): c for c in INSTRUMENTS}
    for cls, names in ALIASES.items():
        for n in names:
            table.setdefault(normalize_name(n), cls)
    return table


def canonical(name: str, *, classes: list[str] | tuple[str, ...] | None = None) -> str:
    """The dlmir class a name stands for (its own name, or an alias of :data:`ALIASES`).

    Parameters
    ----------
    name : a class name as a collection spells it (``"Double Bass"``, ``"vln"``, ``"french-horn"``).
    classes : the classes a model knows (default: all 15); a name mapped outside them is refused.

    Raises
    ------
    ParameterError : the name is neither a class nor an alias (the message lists the classes).
    """
    table = _table()
    key = normalize_name(name)
    cls = table.get(key)
    if cls is None and key.endswith("s") and key[:-1] in table:  # plural folder names: "violins", "flutes"
        cls = table[key[:-1]]
    known = list(classes) if classes is not None else sorted(set(table.values()))
    if cls is None or cls not in known:
        raise ParameterError(
            f"unknown instrument class {name!r}; name the folder after one of {', '.join(known)} "
            "or an alias in dlmir.instruments.aliases.ALIASES"
        )
    return cls
