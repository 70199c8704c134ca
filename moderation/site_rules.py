"""Site rules of the policy layer: links, banned words and suspect words.

Every news site has a word list (slurs, a court-ordered name, a competitor) and many hold comments with links.
These rules are site configuration, not model: they live in `PolicyConfig.site` (never in the model artifact),
and `policy.decide()` turns what `SiteRules.inspect(text)` found into reasons with the site's actions, apart from
the model's scores (a banned word rejects whatever the spam score says; the scores are still reported).

Word lists are matched the way a moderator means them, not as substrings:
- whole words and phrases: a banned "ass" hits "ass", "a$$", "ASS!" but never "class", "assassin" or "as"; an
  entry ending in `*` is a prefix ("idiot*" hits "idiots", "idiotic");
- case- and accent-insensitive (casefold, then the accents dropped: "Café" = "cafe"), and Cyrillic or Greek
  lookalike letters inside a Latin word read as Latin ("аss" with a Cyrillic а);
- the text is first normalised as the model sees it (`moderation.text.normalise`: HTML entities and tags,
  zero-width characters, full-width letters), then the usual obfuscations are undone: letters spelt out with
  separators ("s h i t", "s.h.i.t", "s-h-i-t" become "shit"), digits and symbols for letters ("sh1t", "a$$",
  "@ss", "sh!t") and a letter stretched to three or more ("shiiit"; a doubled letter is not a stretch: a banned
  "god" does not hit "good", nor "loser" "looser").
A list is an automaton over the comment's normalised words: each word's possible readings (leetspeak, stretches)
are looked up in the entries' tables, a set intersection in C for the common comment that holds none; phrases
and prefixes are walked only then. The cost hardly grows with the list's size (`make bench BENCH=site_rules`).

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
from urllib.parse import unquote, urlsplit

from moderation.actions import ACCEPT, ACTIONS, FLAG, REJECT
from moderation.text import normalise


class SiteRulesError(ValueError):
    """A site rule configuration that cannot be used (unknown action, unreadable list, empty pattern)."""


# --- text -------------------------------------------------------------------------------------------------------

# Letters spelt out with separators: three or more single letters (or digits, or $ @ read as s and a), each
# pair separated by one to three of space . - _ * · • ~ / \ ("s h i t", "s.h.i.t", "s - h - i - t").
_SEPARATOR_CHARS = r"\s.\-_*·•~/\\"
_SPELT_OUT = re.compile(rf"(?<![^\W_])[^\W_](?:[{_SEPARATOR_CHARS}]{{1,3}}[^\W_]){{2,}}(?![^\W_])")
_SYMBOLS = str.maketrans({"$": "s", "@": "a"})
_SEPARATORS = re.compile(rf"[{_SEPARATOR_CHARS}]+")


def _join_spelt_out(match: re.Match) -> str:
    return _SEPARATORS.sub("", match.group())


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Cyrillic and Greek letters that look like Latin ones, read as those inside a word that also has Latin letters
# ("аss" with a Cyrillic а); a word wholly in another script is left alone (Russian "сор" is not "cop").
_LOOKALIKE_LETTERS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ӏ": "l", "ԛ": "q", "ԝ": "w",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
})
_WORD = re.compile(r"\w+")
_LATIN_LETTER = re.compile(r"[a-z]")


def _latin_lookalikes(match: re.Match) -> str:
    word = match.group()
    if word.isascii() or _LATIN_LETTER.search(word) is None:
        return word
    return word.translate(_LOOKALIKE_LETTERS)


def canonical(text: str) -> str:
    """The text word lists are matched against: normalised (`moderation.text.normalise`), casefolded, without
    accents, lookalike letters of other scripts inside Latin words read as Latin, and letters spelt out with
    separators joined into one word."""
    text = strip_accents(normalise(text).casefold())
    if not text.isascii():
        text = _WORD.sub(_latin_lookalikes, text)
    if "$" in text or "@" in text:  # "a$$", "@ss": letters (an e-mail address stays one word: "me@x" is "meax")
        text = text.translate(_SYMBOLS)
    if " " in text or "." in text or "-" in text or "_" in text or "*" in text or not text.isascii():
        text = _SPELT_OUT.sub(_join_spelt_out, text)
    return text


# --- word lists -------------------------------------------------------------------------------------------------

# A word of a comment: letters and digits, with $ and @ standing for letters anywhere ("a$$", "@ss": `canonical`
# reads them as s and a) and ! and | inside a word only ("sh!t", but "shit!" is "shit").
_TOKEN = re.compile(r"[^\W_]+(?:[!|]+[^\W_]+)*")  # after `canonical` made "$" s and "@" a
# What stands for a letter (leetspeak): "sh1t", "a$$", "@ss", "sh!t", "h0e", "7wat". "1" and "|" are "i" or "l".
_LEET = {"4": "a", "@": "a", "8": "b", "3": "e", "1": "i", "!": "i", "|": "i", "0": "o", "5": "s", "$": "s",
         "7": "t"}
_AS_I = str.maketrans(_LEET)
_AS_L = str.maketrans({**_LEET, "1": "l", "|": "l"})
_STRETCH = re.compile(r"([^\W\d_])\1{2,}")  # a letter three times or more: a stretch ("shiiit")
_MAY_STRETCH = re.compile(r"(\w)\1\1")  # the quick test for it (half the time: \w is cheaper in `re`)


def _entry_key(word: str) -> str:
    """An entry's word as the comment words it matches are keyed: leetspeak read as letters, a run of three or
    more of a letter as two."""
    return _STRETCH.sub(r"\1\1", word.translate(_AS_I))


def entry_words(entry: str) -> tuple[tuple[str, ...], bool]:
    """(the keys of the entry's words, whether it is a prefix `word*`). Raises SiteRulesError for an empty
    pattern or a `*` anywhere but at the end."""
    text = entry.strip()
    prefix = text.endswith("*")
    if prefix:
        text = text[:-1].rstrip()
    if "*" in text:
        raise SiteRulesError(f"{entry!r}: '*' is only allowed at the end of an entry (a prefix: 'word*')")
    words = tuple(_entry_key(w) for w in _TOKEN.findall(
        strip_accents(normalise(text).casefold()).translate(_SYMBOLS)))  # "a$$" is "ass", as in a comment
    if not words:
        raise SiteRulesError(f"{entry!r} is an empty pattern: an entry needs at least one letter or digit")
    return words, prefix


def comment_words(canonical_text: str) -> list[list[str]]:
    """The words of a `canonical()` text in each of its readings (the same number of words in each): leetspeak
    read as letters ("1" and "|" as i, and as l), and a letter stretched to three or more as once and as twice
    ("shiiit": shit, shiit). A doubled letter stays doubled: "good" is never "god"."""
    words = _TOKEN.findall(canonical_text)
    if not words:
        return []
    joined = " ".join(words)
    versions = [joined.translate(_AS_I)]
    if "1" in joined or "|" in joined:
        versions.append(joined.translate(_AS_L))
    if any(_MAY_STRETCH.search(v) for v in versions):
        versions = [_STRETCH.sub(r"\1", v) for v in versions] + [_STRETCH.sub(r"\1\1", v) for v in versions]
    return [v.split(" ") for v in versions]  # the maps keep the spaces: word i is word i in every reading


def parse_word_list(text: str, source: str = "") -> tuple[str, ...]:
    """The entries of a word list file: one word or phrase per line; blank lines and `#` comments (a line
    starting with `#`, or ` #` after an entry) ignored. Raises SiteRulesError naming the line of a bad entry."""
    entries: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line:
            continue
        try:
            entry_words(line)
        except SiteRulesError as exc:
            raise SiteRulesError(f"{source or 'word list'} line {number}: {exc}") from None
        entries.append(line)
    return tuple(dict.fromkeys(entries))


class _Automaton:
    """The entries keyed by their words: single words in one dict (a set intersection finds them in a comment),
    prefixes by length, phrases by their first word (also as one word: "kill yourself" hits "killyourself")."""

    def __init__(self, entries: tuple[str, ...]):
        self.single: dict[str, str] = {}
        self.prefixes: dict[int, dict[str, str]] = {}
        self.phrases: dict[str, list[tuple[tuple[str, ...], bool, str]]] = {}
        for entry in entries:
            words, prefix = entry_words(entry)
            if len(words) == 1 and not prefix:
                self.single.setdefault(words[0], entry)
            elif len(words) == 1:
                self.prefixes.setdefault(len(words[0]), {}).setdefault(words[0], entry)
            else:
                self.phrases.setdefault(words[0], []).append((words, prefix, entry))
                if not prefix:
                    self.single.setdefault("".join(words), entry)
        for candidates in self.phrases.values():
            candidates.sort(key=lambda item: -len(item[0]))  # the longest phrase first
        self.first = set(self.single) | set(self.phrases)
        # every prefix cut to the shortest one's length: a comment none of whose words starts with one of these
        # holds no prefix (one set intersection instead of a look-up per word and prefix length)
        self.head = min(self.prefixes, default=0)
        self.heads = {key[:self.head] for table in self.prefixes.values() for key in table}

    def _prefix_at(self, keys) -> str | None:
        for length, table in self.prefixes.items():
            for key in keys:
                entry = table.get(key[:length]) if len(key) >= length else None
                if entry is not None:
                    return entry
        return None

    def _phrase_at(self, versions: list[list[str]], i: int) -> tuple[str, int] | None:
        n_words = len(versions[0])
        for key in {v[i] for v in versions}:
            for phrase, prefix, entry in self.phrases.get(key, ()):
                n = len(phrase)
                if i + n > n_words:
                    continue
                last = n - 1 if prefix else n
                if all(any(v[i + j] == phrase[j] for v in versions) for j in range(1, last)) and (
                        not prefix or any(v[i + n - 1].startswith(phrase[-1]) for v in versions)):
                    return entry, n
        return None

    def find(self, versions: list[list[str]]) -> tuple[str, ...]:
        if not versions:
            return ()
        # the quick test, in C for the common case (no hit): does any word start an entry?
        keys = set(versions[0]).union(*versions[1:]) if len(versions) > 1 else set(versions[0])
        starts = keys & self.first
        prefixed = bool(self.prefixes) and not self.heads.isdisjoint({k[:self.head] for k in keys}) and \
            self._prefix_at(keys) is not None
        if not starts and not prefixed:
            return ()
        found: dict[str, None] = {}
        n_words = len(versions[0])
        if prefixed:  # a prefix can be anywhere
            positions = range(n_words)
        elif len(versions) == 1:
            positions = [i for i, word in enumerate(versions[0]) if word in starts]
        else:
            positions = [i for i in range(n_words) if any(v[i] in starts for v in versions)]
        after = 0  # the first word not yet inside a found phrase
        for i in positions:  # the exact walk, left to right, the longest entry at each word
            if i < after:
                continue
            phrase = self._phrase_at(versions, i) if self.phrases else None
            if phrase is not None:
                found.setdefault(phrase[0], None)
                after = i + phrase[1]
                continue
            here = {v[i] for v in versions}
            entry = next((self.single[k] for k in here if k in self.single), None)
            if entry is None and prefixed:
                entry = self._prefix_at(here)
            if entry is not None:
                found.setdefault(entry, None)
        return tuple(found)


@dataclass(frozen=True)
class WordList:
    """A site's list of words and phrases (`entries` as written in the file)."""

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
            entry_words(entry)  # raises on an empty pattern

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(self.entries).encode("utf-8")).hexdigest()

    @cached_property
    def _automaton(self) -> _Automaton:
        return _Automaton(self.entries)

    def __getstate__(self):  # pickled (rescore's workers) without the automaton: rebuilt on first use
        return {"entries": self.entries, "source": self.source}

    def __setstate__(self, state):
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def find(self, canonical_text: str, words: list[list[str]] | None = None) -> tuple[str, ...]:
        """The entries found in a `canonical()` text (or its `comment_words`), each once, in text order."""
        return self._automaton.find(comment_words(canonical_text) if words is None else words)

    def to_dict(self) -> dict:
        return {"source": self.source, "entries": len(self.entries), "sha256": self.sha256}


# --- links ------------------------------------------------------------------------------------------------------

_HOST_TRIM = ".,;:!?)]}>'\""
_DOMAIN = re.compile(r"^[\w-]+(?:\.[\w-]+)*$")


def link_host(link: str) -> str:
    """The host a link (as `features.URL` matched it) points at, as a browser reads it (`urllib.parse`, a scheme
    added when there is none): without scheme, userinfo, port and path; a backslash ends the host as a slash does;
    percent-escapes decoded; trailing punctuation and dots dropped; an IPv6 literal without its brackets; a domain
    lowercased in its ASCII (IDNA) form, so "BÜCHER.de" and "xn--bcher-kva.de" are one host (and a lookalike
    domain shows as what it is). A link urllib cannot parse (an unclosed "[") gives its authority text."""
    link = link.strip().replace("\\", "/")
    if "://" not in link[:12]:
        link = "http://" + link
    try:
        host = urlsplit(link).hostname or ""
    except ValueError:  # "http://[::1": not a URL; never an error on a comment's text
        host = re.split(r"[/?#]", link.split("://", 1)[1], maxsplit=1)[0].rsplit("@", 1)[-1].lower()
    host = unquote(host)
    if ":" in host:  # an IPv6 address (urlsplit took its brackets off), or the unparsed text above
        return host
    host = host.strip(_HOST_TRIM)
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:  # an empty or over-long label: not a name DNS could resolve; the text as it is
        return host.lower()


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
    # numpy and scikit-learn: loaded by whoever scores anyway. `url_spans` is memoised: the spam model's features
    # have just scanned the same normalised text (moderation.features._signal_rows), this reuses their matches.
    from moderation.features import url_spans

    text = normalise(text)
    if "." not in text and ":" not in text:  # every URL alternative holds a "." or "://"
        return []
    return [text[start:end] for start, end in url_spans(text)]


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
        lists = {}
        for name, path in (("banned_words", banned_words), ("suspect_words", suspect_words)):
            try:
                lists[name] = WordList.from_file(str(path)) if path not in (None, "") else None
            except SiteRulesError as exc:
                raise SiteRulesError(f"{name}: {exc}") from None
        return cls(
            banned=lists["banned_words"], suspect=lists["suspect_words"],
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
            words = comment_words(canonical(text))
            banned = self.banned.find("", words) if check_banned else ()
            suspect = self.suspect.find("", words) if check_suspect else ()
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
        return f"The comment links to another site: {to}."
    rule = f" (the site's link rule applies from {links_min})" if links_min > 1 else ""
    return f"The comment has {len(hosts)} links to other sites: {to}{rule}."


def word_message(entries: tuple[str, ...], list_name: str) -> str:
    """The message names the matched list entries (as written in the list): a moderator must see what held it."""
    return f"The comment contains {_quoted(entries)}, on the site's {list_name} list."
