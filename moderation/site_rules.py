"""Site rules of the policy layer: links, banned words and suspect words.

Every news site has a word list (slurs, a court-ordered name, a competitor) and many hold comments with links.
These rules are site configuration, not model: they live in `PolicyConfig.site` (never in the model artifact),
and `policy.decide()` turns what `SiteRules.inspect(text)` found into reasons with the site's actions, apart from
the model's scores (a banned word rejects whatever the spam score says; the scores are still reported).

Word lists are matched the way a moderator means them, not as substrings:
- whole words and phrases: a banned "ass" hits "ass", "a$$", "ASS!" but never "class", "assassin" or "as"; an
  entry ending in `*` is a prefix ("idiot*" hits "idiots", "idiotic");
- case- and accent-insensitive (casefold, then the accents dropped: "Café" = "cafe");
- the text is first normalised as the model sees it (`moderation.text.normalise`: HTML entities and tags,
  zero-width characters, full-width letters), then the usual obfuscations are undone: letters spelt out with
  separators ("s h i t", "s.h.i.t", "s-h-i-t" become "shit"), digits and symbols for letters ("sh1t", "a$$",
  "@ss", "sh!t") and a letter stretched to three or more ("shiiit"; a doubled letter is not a stretch: a banned
  "god" does not hit "good", nor "loser" "looser").
A list is one compiled regular expression: the entries' alternatives factored into a trie of letter classes, so
a comment is scanned once whatever the list's size (bench: `make bench BENCH=site_rules`).

Links are the links the spam model's features find (`moderation.features.URL`, the same matches), less those to
the site's own domains (`example.com` allows www.example.com/news/... and any subdomain).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from moderation.text import normalise

ACCEPT, FLAG, REJECT = "accept", "flag", "reject"
ACTIONS = (ACCEPT, FLAG, REJECT)


class SiteRulesError(ValueError):
    """A site rule configuration that cannot be used (unknown action, unreadable list, empty pattern)."""


# --- text -------------------------------------------------------------------------------------------------------

# Letters spelt out with separators: three or more single letters (or digits, or $ @ standing for letters), each
# pair separated by one to three of space . - _ * · • ~ / \ ("s h i t", "s.h.i.t", "s - h - i - t").
_SEPARATOR_CHARS = r"\s.\-_*·•~/\\"
_SPELT_OUT = re.compile(
    rf"(?<![^\W_])(?:[^\W_]|[@$])(?:[{_SEPARATOR_CHARS}]{{1,3}}(?:[^\W_]|[@$])){{2,}}(?![^\W_])")
_SEPARATORS = re.compile(rf"[{_SEPARATOR_CHARS}]+")


def _join_spelt_out(match: re.Match) -> str:
    return _SEPARATORS.sub("", match.group())


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def canonical(text: str) -> str:
    """The text word lists are matched against: normalised (`moderation.text.normalise`), casefolded, without
    accents, and letters spelt out with separators joined into one word."""
    text = strip_accents(normalise(text).casefold())
    if " " in text or "." in text or "-" in text or "_" in text or "*" in text or not text.isascii():
        text = _SPELT_OUT.sub(_join_spelt_out, text)
    return text


# --- word lists -------------------------------------------------------------------------------------------------

# What may stand for a letter in a comment (leetspeak): "sh1t", "a$$", "@ss", "sh!t", "h0e", "7wat".
_LOOKALIKES = {"a": "4@", "b": "8", "e": "3", "i": "1!|", "l": "1|", "o": "0", "s": "5$", "t": "7"}
_WORD_SPLIT = re.compile(r"[\W_]+")
_BOUNDARY_BEFORE = r"(?<![^\W_])"
_BOUNDARY_AFTER = r"(?![^\W_])"
_PHRASE_GAP = r"[\W_]+"


def _letter_class(char: str) -> str:
    others = _LOOKALIKES.get(char)
    if not others:
        return re.escape(char)
    return "[" + re.escape(char) + "".join(re.escape(c) for c in others) + "]"


def _runs(word: str) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for char in word:
        if runs and runs[-1][0] == char:
            runs[-1] = (char, runs[-1][1] + 1)
        else:
            runs.append((char, 1))
    return runs


def _unit(char: str, count: int) -> str:
    """A run of `count` times `char` in an entry as a regex: a single letter matches one or three and more (a
    stretched letter, never a doubled one: "god" must not hit "good"); a doubled letter matches two or more."""
    cls = _letter_class(char)
    if count == 1:
        return f"{cls}(?:{cls}{cls}+)?"
    return f"{cls}{{{count},}}"


def entry_units(entry: str) -> tuple[tuple[str, ...], bool]:
    """(the entry's regex units, with a phrase gap between its words; whether it is a prefix `word*`).
    Raises SiteRulesError for an empty pattern or a `*` anywhere but at the end."""
    text = entry.strip()
    prefix = text.endswith("*")
    if prefix:
        text = text[:-1].rstrip()
    if "*" in text:
        raise SiteRulesError(f"{entry!r}: '*' is only allowed at the end of an entry (a prefix: 'word*')")
    words = [w for w in _WORD_SPLIT.split(strip_accents(normalise(text).casefold())) if w]
    if not words:
        raise SiteRulesError(f"{entry!r} is an empty pattern: an entry needs at least one letter or digit")
    units: list[str] = []
    for index, word in enumerate(words):
        if index:
            units.append(_PHRASE_GAP)
        units.extend(_unit(char, count) for char, count in _runs(word))
    return tuple(units), prefix


def _trie_regex(node: dict) -> str:
    """A trie of units as a regex: shared prefixes once, so a comment is scanned in one pass over the text."""
    end = node.get(None)
    branches = [unit + _trie_regex(child) for unit, child in node.items() if unit is not None]
    if end is not None:
        branches.append(end)  # the end of an entry, last: a longer entry (a phrase) wins over its first word
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def parse_word_list(text: str, source: str = "") -> tuple[str, ...]:
    """The entries of a word list file: one word or phrase per line; blank lines and `#` comments (a line
    starting with `#`, or ` #` after an entry) ignored. Raises SiteRulesError naming the line of a bad entry."""
    entries: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line:
            continue
        try:
            entry_units(line)
        except SiteRulesError as exc:
            raise SiteRulesError(f"{source or 'word list'} line {number}: {exc}") from None
        entries.append(line)
    return tuple(dict.fromkeys(entries))


@dataclass(frozen=True)
class WordList:
    """A site's list of words and phrases (`entries` as written in the file), matched as one compiled regex."""

    entries: tuple[str, ...]
    source: str = ""

    @classmethod
    def from_file(cls, path: str | Path) -> "WordList":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SiteRulesError(f"cannot read the word list {path}: {exc}") from None
        return cls(parse_word_list(text, str(path)), str(path))

    def __post_init__(self):
        object.__setattr__(self, "entries", tuple(self.entries))
        for entry in self.entries:
            entry_units(entry)  # raises on an empty pattern

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(self.entries).encode("utf-8")).hexdigest()

    @cached_property
    def _compiled(self) -> tuple[re.Pattern | None, dict]:
        """(the trie regex of every entry, {(units, prefix): entry}) to name the entry behind a match."""
        trie: dict = {}
        wildcard_trie: dict = {}
        keys: dict = {}
        for entry in self.entries:
            units, prefix = entry_units(entry)
            keys.setdefault((units, prefix), entry)
            node = wildcard_trie if prefix else trie
            for unit in units:
                node = node.setdefault(unit, {})
            node[None] = ""
        parts = []
        if trie:
            parts.append(_trie_regex(trie) + _BOUNDARY_AFTER)
        if wildcard_trie:
            parts.append(_trie_regex(wildcard_trie) + r"[^\W_]*" + _BOUNDARY_AFTER)
        if not parts:
            return None, keys
        body = parts[0] if len(parts) == 1 else "(?:" + "|".join(f"(?:{p})" for p in parts) + ")"
        return re.compile(_BOUNDARY_BEFORE + body), keys

    @cached_property
    def _entry_patterns(self) -> list[tuple[str, re.Pattern]]:
        out = []
        for (units, prefix), entry in self._compiled[1].items():
            tail = r"[^\W_]*" if prefix else ""
            out.append((entry, re.compile("".join(units) + tail + r"\Z")))
        # a phrase before its first word, a longer entry before a shorter one
        out.sort(key=lambda item: -len(item[1].pattern))
        return out

    def find(self, canonical_text: str) -> tuple[str, ...]:
        """The entries found in a `canonical()` text, each once, in the order they first occur."""
        regex = self._compiled[0]
        if regex is None:
            return ()
        found: dict = {}
        for match in regex.finditer(canonical_text):
            span = match.group()
            for entry, pattern in self._entry_patterns:
                if pattern.match(span):
                    found.setdefault(entry, None)
                    break
        return tuple(found)

    def to_dict(self) -> dict:
        return {"source": self.source, "entries": len(self.entries), "sha256": self.sha256}


# --- links ------------------------------------------------------------------------------------------------------

_HOST_TRIM = ".,;:!?)]}>'\""
_DOMAIN = re.compile(r"^[\w-]+(?:\.[\w-]+)*$")


def link_host(link: str) -> str:
    """The host a link (as `features.URL` matched it) points at: lowercased, without scheme, user, port, path."""
    link = link.lower()
    for scheme in ("https://", "http://"):
        if link.startswith(scheme):
            link = link[len(scheme):]
            break
    host = re.split(r"[/?#]", link, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    return host.strip(_HOST_TRIM)


def normalise_domain(domain: str) -> str:
    """A configured allowed domain as a bare host: "https://www.Example.com/" -> "example.com"."""
    host = link_host(domain.strip())
    for prefix in ("*.", "www."):
        if host.startswith(prefix):
            host = host[len(prefix):]
    if not host or not _DOMAIN.match(host):
        raise SiteRulesError(f"{domain!r} is not a domain name (expected e.g. example.com)")
    return host


def links_of(text: str) -> list[str]:
    """The links in a comment: the spam model's own link matches (features.URL) on the normalised text."""
    from moderation.features import URL  # numpy and scikit-learn: loaded by whoever scores anyway

    text = normalise(text)
    if "." not in text and ":" not in text:  # every URL alternative holds a "." or "://"
        return []
    return [m.group() for m in URL.finditer(text)]


# --- the rules --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    """What the site rules found in one comment: hosts of links outside the allowed domains (one per link), and
    the banned and suspect list entries it contains."""

    links: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()
    suspect: tuple[str, ...] = ()


NOTHING = Findings()


def _action(value, name: str, default: str) -> str:
    if value is None or value == "":
        return default
    value = str(value).strip().lower()
    if value not in ACTIONS:
        raise SiteRulesError(f"{name} must be one of {', '.join(ACTIONS)}, not {value!r}")
    return value


def _domains(value) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(normalise_domain(str(item)) for item in items if str(item).strip()))


@dataclass(frozen=True)
class SiteRules:
    """The site's rules. An action `accept` turns a rule off (links are off by default; a word list without a
    file has nothing to find)."""

    banned: WordList | None = None
    suspect: WordList | None = None
    banned_action: str = REJECT
    suspect_action: str = FLAG
    links_action: str = ACCEPT
    links_min: int = 1
    allowed_domains: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "banned_action", _action(self.banned_action, "banned_word_action", REJECT))
        object.__setattr__(self, "suspect_action", _action(self.suspect_action, "suspect_word_action", FLAG))
        object.__setattr__(self, "links_action", _action(self.links_action, "links_action", ACCEPT))
        if isinstance(self.links_min, bool) or not isinstance(self.links_min, int) or self.links_min < 1:
            raise SiteRulesError(f"links_min must be a whole number of at least 1, not {self.links_min!r}")
        object.__setattr__(self, "allowed_domains", _domains(self.allowed_domains))

    @classmethod
    def from_settings(cls, banned_words=None, suspect_words=None, banned_word_action=None, suspect_word_action=None,
                      links_action=None, links_min=None, allowed_link_domains=None) -> "SiteRules":
        """The rules from configuration values as they come from the environment or the command line (file paths,
        action names, a number, a comma-separated domain list; None or "" for the default). Raises
        SiteRulesError with a message that says which setting is wrong."""
        if links_min is None or links_min == "":
            links_min = 1
        elif isinstance(links_min, str):
            try:
                links_min = int(links_min.strip())
            except ValueError:
                raise SiteRulesError(f"links_min must be a whole number of at least 1, not {links_min!r}") from None
        return cls(
            banned=WordList.from_file(str(banned_words)) if banned_words not in (None, "") else None,
            suspect=WordList.from_file(str(suspect_words)) if suspect_words not in (None, "") else None,
            banned_action=banned_word_action, suspect_action=suspect_word_action, links_action=links_action,
            links_min=links_min, allowed_domains=allowed_link_domains,
        )

    @property
    def active(self) -> bool:
        return (self.links_action != ACCEPT or (self.banned is not None and self.banned_action != ACCEPT)
                or (self.suspect is not None and self.suspect_action != ACCEPT))

    def allowed(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def inspect(self, text: str) -> Findings:
        """What the rules find in a comment (pure: the same text, the same findings)."""
        links: tuple[str, ...] = ()
        if self.links_action != ACCEPT:
            links = tuple(h for h in map(link_host, links_of(text)) if not self.allowed(h))
        banned = suspect = ()
        check_banned = self.banned is not None and self.banned_action != ACCEPT
        check_suspect = self.suspect is not None and self.suspect_action != ACCEPT
        if check_banned or check_suspect:
            words = canonical(text)
            banned = self.banned.find(words) if check_banned else ()
            suspect = self.suspect.find(words) if check_suspect else ()
        if not (links or banned or suspect):
            return NOTHING
        return Findings(links, banned, suspect)

    def to_dict(self) -> dict:
        return {
            "banned_words": self.banned.to_dict() if self.banned is not None else None,
            "banned_word_action": self.banned_action,
            "suspect_words": self.suspect.to_dict() if self.suspect is not None else None,
            "suspect_word_action": self.suspect_action,
            "links_action": self.links_action,
            "links_min": self.links_min,
            "allowed_link_domains": list(self.allowed_domains),
        }


def _quoted(entries: tuple[str, ...], most: int = 5) -> str:
    shown = ", ".join(f'"{e}"' for e in entries[:most])
    return shown + (f" and {len(entries) - most} more" if len(entries) > most else "")


def link_message(hosts: tuple[str, ...], links_min: int) -> str:
    distinct = tuple(dict.fromkeys(hosts))
    to = ", ".join(distinct[:5]) + (f" and {len(distinct) - 5} more" if len(distinct) > 5 else "")
    if len(hosts) == 1:
        return f"The comment has a link (to {to}); the site holds comments with links."
    return f"The comment has {len(hosts)} links (to {to}); the site holds comments with {links_min} or more."


def word_message(entries: tuple[str, ...], list_name: str) -> str:
    """The message names the matched list entries (as written in the list): a moderator must see what held it."""
    return f"The comment contains {_quoted(entries)}, on the site's {list_name} list."
