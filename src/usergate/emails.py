"""The uniqueness key of an email address: one normalisation, everywhere.

`email_key` is what the unique index on `users.email_key` holds and what every
lookup compares: NFKC, then full Unicode case folding, then NFKC again (the
Unicode "NFKC_Casefold" idea, as far as Python's unicodedata offers it) over the
whole address. So `STRASSE@…` and `straße@…`, or a Kelvin sign (U+212A) and a
`k`, or a full-width `Ａ` and an `a`, are one address and can never be two
accounts. `.lower()` alone kept all of those apart.

The stored `email` keeps the spelling the user typed (docs/api.md: the local part is
kept); only the key is folded. Changing this function needs a migration that
recomputes every key (see migrations/versions/hard_*_email_key_nfkc_casefold.py).
"""

from __future__ import annotations

import unicodedata

MAX_KEY_LENGTH = 320  # the column; folding can lengthen an address (ß -> ss)


def email_key(email: str) -> str:
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded)
