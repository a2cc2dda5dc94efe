"""How far an artist's catalogue match is trusted for its audio features.

Artists are linked to the catalogue by normalised name, and a name is not an identity: HetRec's
Shaman (power metal) shares its name with a Latin act in the catalogue, Suicide Commando (EBM)
with a pop track's credit, Trouble (doom metal) with another rock band. Averaging the linked
tracks' audio features then describes somebody else. So a match earns its trust:

* it is **used** only when the catalogue's genres agree with the artist's own tags
  (:func:`genre_agrees`), or when it rests on several tracks (:data:`MIN_TRACKS`);
* a used match carries ``tracks / (tracks + SHRINK_TRACKS)`` of the audio evidence
  (:func:`audio_trust`): one track 0.33, three 0.6, ten 0.83. The personality prior shrinks an
  artist's audio attributes toward neutral by it and, where the artist has lexicon tags, gives
  the rest of the weight to them; below :data:`THIN_BELOW` (fewer than three tracks) an artist
  with lexicon tags is described by its tags alone (tags are preferred where audio is thin).

A track's own features, or a track matched by artist *and* title, are trusted fully.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A match resting on at least this many catalogue tracks is used even without genre agreement.
MIN_TRACKS = 3
#: Pseudo-count of the shrinkage: trust = tracks / (tracks + SHRINK_TRACKS).
SHRINK_TRACKS = 2
#: Audio evidence below this trust (fewer than :data:`MIN_TRACKS` tracks) is *thin*: an item
#: with lexicon tags is then described by its tags alone.
THIN_BELOW = MIN_TRACKS / (MIN_TRACKS + SHRINK_TRACKS)

#: Words of Last.fm tags that agree with each catalogue genre (the bundled catalogue's six
#: playlist genres). A catalogue genre not listed here agrees with a tag that contains it.
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "rock": (
        "rock", "metal", "punk", "grunge", "indie", "alternative", "emo", "hardcore",
        "shoegaze", "doom", "sludge", "stoner", "thrash", "psychedelic", "garage", "britpop",
        "new wave", "post punk", "progressive", "gothic", "blues", "grindcore", "metalcore",
    ),
    "pop": (
        "pop", "dance", "synthpop", "electropop", "disco", "teen", "boy band", "girl group",
        "singer songwriter", "eurovision", "europop", "kpop", "jpop",
    ),
    "rap": ("rap", "hip hop", "hiphop", "trap", "grime", "gangsta", "crunk"),
    "r&b": ("rnb", "r&b", "soul", "funk", "motown", "urban", "new jack swing", "quiet storm"),
    "edm": (
        "electronic", "electronica", "edm", "house", "techno", "trance", "dubstep",
        "drum and bass", "dnb", "electro", "dance", "idm", "big room", "breakbeat",
        "electroclash", "eurodance", "hardstyle", "club",
    ),
    "latin": (
        "latin", "latino", "reggaeton", "salsa", "bachata", "cumbia", "tropical", "spanish",
        "merengue", "bossa nova", "mpb", "brazilian", "tango", "flamenco", "latin pop",
    ),
}  # fmt: skip


def _words(text: str) -> str:
    """`` word word ``: lower case, punctuation (not ``&``) as spaces."""
    return " " + " ".join(re.sub(r"[^\w&]+", " ", text.lower()).split()) + " "


def genre_agrees(genres: Iterable[str], tags: Iterable[str]) -> bool:
    """Whether any catalogue genre agrees with any of the artist's tags.

    >>> genre_agrees(["rock"], ["doom metal", "80s"])
    True
    >>> genre_agrees(["latin"], ["power metal", "metal melodico"])
    False
    >>> genre_agrees(["pop"], ["ebm", "dark electro", "electro-industrial"])
    False
    >>> genre_agrees(["electronic"], ["electronic", "icelandic"])
    True
    """
    text = " ".join(_words(t) for t in tags)
    for genre in genres:
        words = GENRE_WORDS.get(str(genre).strip().lower(), (str(genre),))
        if any(_words(w) in text for w in words if _words(w).strip()):
            return True
    return False


def audio_trust(tracks: int, agrees: bool) -> float:
    """The share of an artist match's audio evidence that is used (0 when it is not).

    >>> audio_trust(1, agrees=False), audio_trust(1, agrees=True), audio_trust(3, agrees=False)
    (0.0, 0.3333333333333333, 0.6)
    """
    if tracks <= 0 or not (agrees or tracks >= MIN_TRACKS):
        return 0.0
    return tracks / (tracks + SHRINK_TRACKS)


def artist_evidence(tracks: int, genres: Iterable[str], agrees: bool) -> str:
    """One line on an artist match, for the "driven by" table and the data set's metadata.

    >>> artist_evidence(1, ["latin"], False)
    '1 catalogue track, genre latin disagrees with the tags: audio not used'
    >>> artist_evidence(3, ["rock"], True)
    '3 catalogue tracks, genre rock agrees with the tags: audio weight 0.60'
    """
    names = ", ".join(sorted({str(g) for g in genres})) or "unknown"
    plural = "track" if tracks == 1 else "tracks"
    verdict = "agrees with" if agrees else "disagrees with"
    trust = audio_trust(tracks, agrees)
    use = f"audio weight {trust:.2f}" if trust else "audio not used"
    return f"{tracks} catalogue {plural}, genre {names} {verdict} the tags: {use}"
