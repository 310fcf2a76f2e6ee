"""Synthetic trees for the ``search`` scenario: realistic names, deterministic from a seed.

Names are what people's folders hold: camera files (``IMG_4821.JPG``), screenshots with
dates, documents of two or three words with a year or a version (``Budget 2023 final.xlsx``),
code, music, numbered copies (``notes (2).txt``); words drawn with a Zipf-like skew from a
vocabulary that includes accented words (``Café``, ``Übersicht``, ``Résumé``: about 1 name in
12 has one). Folders nest up to four deep. :func:`tree` yields ``(path, kind, size)`` rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from protocol import paths
from protocol.search import fold

WORDS = (
    "report invoice photo photos meeting notes budget draft final plan project summary review "
    "contract letter presentation slides agenda minutes schedule proposal analysis data results "
    "backup archive scan receipt statement tax return payroll salary travel holiday vacation trip "
    "family wedding birthday party kids school homework lecture thesis paper chapter book recipe "
    "music song album video movie clip trailer podcast interview demo test sample template form "
    "application resume cover portfolio design logo mockup sketch drawing poster flyer brochure "
    "manual guide readme changelog license config settings export import sync client server api "
    "quarterly annual monthly weekly daily january february march april may june july august "
    "september october november december spring summer autumn winter garden house kitchen car "
    "insurance medical health doctor bank loan mortgage lease rent utilities phone internet "
    "inventory sales marketing customers orders shipping supplier pricing forecast strategy "
    "roadmap sprint backlog retro onboarding training handbook policy security audit compliance"
).split()
ACCENTED = (
    "Café Résumé Übersicht Straße Crème Brûlée Façade Zürich Łódź São Paulo Málaga Ångström "
    "naïve Noël Besprechung Präsentation Rechnung Fotos Geschäft Année Été Économie Déjà "
    "Français Español Niño Año Señor Mañana Bogotá Kraków Göteborg Århus Ærø Øresund Piñata"
).split()
EXTENSIONS = (
    ("jpg", 18), ("png", 8), ("pdf", 14), ("docx", 9), ("xlsx", 6), ("txt", 6), ("md", 4), ("mp4", 4),
    ("mov", 2), ("py", 4), ("js", 3), ("zip", 3), ("csv", 4), ("pptx", 3), ("mp3", 5), ("heic", 4),
    ("json", 2), ("html", 1),
)  # fmt: skip
_EXT_NAMES = [e for e, _ in EXTENSIONS]
_EXT_WEIGHTS = [w for _, w in EXTENSIONS]
#: word weights: Zipf-like, so some words are common (and some queries match many names)
_WORD_WEIGHTS = [1.0 / (i + 1) ** 0.8 for i in range(len(WORDS))]


class Namer:
    """Random file and folder names; one per :meth:`file_name` / :meth:`folder_name` call."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def word(self) -> str:
        r = self.r
        if r.random() < 0.04:
            return r.choice(ACCENTED)
        w = r.choices(WORDS, _WORD_WEIGHTS)[0]
        return w.capitalize() if r.random() < 0.5 else w

    def words(self, lo: int, hi: int, sep: str = " ") -> str:
        return sep.join(self.word() for _ in range(self.r.randint(lo, hi)))

    def file_name(self) -> str:
        r = self.r
        ext = r.choices(_EXT_NAMES, _EXT_WEIGHTS)[0]
        roll = r.random()
        if roll < 0.22:
            return f"{r.choice(('IMG_', 'DSC', 'PXL_', 'VID_'))}{r.randint(1, 99999):04d}.{r.choice(('jpg', 'JPG', 'heic', 'mp4'))}"
        if roll < 0.30:
            return f"Screenshot {r.randint(2015, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} at {r.randint(0, 23)}.{r.randint(0, 59):02d}.{r.randint(0, 59):02d}.png"
        if roll < 0.55:
            return f"{self.words(1, 3)} {r.randint(2010, 2026)}.{ext}"
        if roll < 0.70:
            return f"{self.words(1, 3, '_')}_v{r.randint(1, 12)}.{ext}"
        if roll < 0.78:
            return f"{self.words(1, 2)} ({r.randint(1, 9)}).{ext}"
        if roll < 0.83:
            return f"{r.randint(1, 40):02d} - {self.words(1, 4)}.mp3"
        return f"{self.words(1, 4)}.{ext}"

    def folder_name(self) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.2:
            return str(r.randint(2010, 2026))
        if roll < 0.3:
            return f"{r.randint(2010, 2026)}-{r.randint(1, 12):02d}"
        return self.words(1, 2).title() if r.random() < 0.5 else self.words(1, 2)


def tree(seed: int, files: int) -> Iterator[tuple[str, str, int]]:
    """A user's tree of about ``files`` files and their folders: ``(path, kind, size)``, parents
    before children. Folders hold 5 to 60 files; about one folder in three has subfolders."""
    namer = Namer(seed)
    r = namer.r
    made = 0
    seen: set[str] = set()
    folders = ["/"]
    while made < files:
        parent = r.choice(folders) if r.random() < 0.7 else "/"
        if parent.count("/") > 4:
            parent = "/"
        folder = _unique(f"{parent.rstrip('/')}/{namer.folder_name()}", seen)
        folders.append(folder)
        yield folder, "folder", 0
        for _ in range(min(files - made, r.randint(5, 60))):
            path = _unique(f"{folder}/{namer.file_name()}", seen)
            yield path, "file", int(r.lognormvariate(11, 2.2)) + 1
            made += 1


def _unique(path: str, seen: set[str]) -> str:
    """``path``, or ``path`` with " (n)" before its extension until no path taken so far has its key."""
    candidate, n = path, 1
    while paths.path_key(candidate) in seen:
        n += 1
        head, dot, ext = path.rpartition(".")
        candidate = f"{head} ({n}).{ext}" if dot and "/" not in ext else f"{path} ({n})"
    seen.add(paths.path_key(candidate))
    return candidate


def user_sizes(seed: int, users: int, total: int, big: int) -> list[int]:
    """Files per user: the first holds ``big``; the others share ``total - big`` in a log-normal
    spread (median about half the mean, a few users with tens of thousands), at least 1 each."""
    r = random.Random(seed)
    weights = [r.lognormvariate(0, 1.3) for _ in range(users - 1)]
    scale = (total - big) / sum(weights)
    return [big] + [max(1, int(w * scale)) for w in weights]


#: what people type into a search box, by kind, and how often (weights): whole words and the
#: first letters of one, two words, an extension, a number, a word without its accents (or
#: with them), a typo, one or two letters, and words no name holds
QUERY_KINDS = (
    ("word", 30), ("prefix", 15), ("two words", 10), ("extension", 5), ("number", 10), ("accents", 8),
    ("typo", 10), ("short", 5), ("absent", 7),
)  # fmt: skip
_ABSENT = ("xylophone", "qwertz", "zebra crossing", "kangaroo", "volcano", "nebula", "quokka")


def queries(seed: int, count: int) -> list[tuple[str, str]]:
    """``count`` (kind, query) pairs, drawn as :data:`QUERY_KINDS` weighs them."""
    namer = Namer(seed)
    r = namer.r
    kinds = r.choices([k for k, _ in QUERY_KINDS], [w for _, w in QUERY_KINDS], k=count)
    return [(kind, _query(namer, kind)) for kind in kinds]


def _query(namer: Namer, kind: str) -> str:
    r = namer.r
    word = r.choices(WORDS, _WORD_WEIGHTS)[0]
    if kind == "word":
        return word if r.random() < 0.7 else word.capitalize()
    if kind == "prefix":
        return word[: r.randint(3, max(3, len(word) - 1))]
    if kind == "two words":
        return f"{word} {r.choice((namer.word().lower(), str(r.randint(2010, 2026))))}"
    if kind == "extension":
        return r.choice(_EXT_NAMES) if r.random() < 0.8 else "." + r.choice(_EXT_NAMES)
    if kind == "number":
        return str(r.randint(2010, 2027)) if r.random() < 0.6 else f"{r.choice(('IMG_', 'DSC', ''))}{r.randint(10, 9999)}"
    if kind == "accents":
        accented = r.choice(ACCENTED)
        return fold(accented) if r.random() < 0.7 else accented.upper()
    if kind == "typo":
        i = r.randrange(len(word) - 1)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :] if r.random() < 0.6 else word[:i] + word[i + 1 :]
    if kind == "short":
        return word[: r.randint(1, 2)]
    return r.choice(_ABSENT)
