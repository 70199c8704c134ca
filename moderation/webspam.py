"""Signals of the spam that article comment sections get, whatever site it comes from.

Under a news or blog article, spam rarely looks like a YouTube channel plug or an SMS prize: it is an SEO link
dropped after generic praise ("Thanks for sharing, very informative. Visit example,com"), a domain written out to
dodge link filters, keyword stuffing at the end of a plausible comment, a fake "customer service number" for a
brand or an airline, or essay, loan, casino and pharma promotion. The word model learns the words of its training
spam; these signals carry the shapes across sources:

- the curated lists of Stack Exchange's SmokeDetector (bad keywords, blacklisted websites, fake support numbers),
  compiled at training time into sets of literal strings (`compile_lists`) and stored with the model, so serving
  never reads the lists and no list regex runs on a comment;
- links and written-out domains by kind: to a commercial-looking host, to a reference site (an encyclopaedia, a
  government, a university, a news site, documentation, a code host, the reader's own machine), or spelt out
  ("showbox,com", "site dot com");
- phone numbers next to support or booking words;
- the share of the comment that is an advert (links that are no reference, phone numbers, listed keywords),
  link-only comments, and generic praise around an advert ("Very informative blog. Visit ...").

`WebSpamSignals` is a scikit-learn transformer (its fitted state is the compiled lists); one row per text, one
column per WEBSPAM_NAMES, each squashed into [0, 1) with tanh.
"""

from __future__ import annotations

import re
from re import _constants as sre_constants
from re import _parser as sre_parse

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

WEBSPAM_NAMES = (
    "listed_keywords", "listed_websites", "listed_numbers", "support_phone", "written_domain", "commercial_link",
    "reference_link", "advert_share", "link_only", "praise_advert",
)

# A link or a bare domain (as features.URL finds them), and a domain written out to dodge link filters.
LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+|\b[a-z0-9][a-z0-9-]{1,62}(?:\.[a-z0-9-]{1,62})*"
    r"\.(?:com|net|org|ly|co|info|biz|io|me|tk|ru|uk|us|tv|gl|be|xyz|in|pk|online|site|shop|store|top|club|pro|au|"
    r"ca|de|fr|blog|live|app|link|today)\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
# A comma stands for the dot only with no space around it ("showbox,com"): ", in" and ", us" are English, and a
# top-level domain followed by a dot or a bracket is code ("arg,io.write").
WRITTEN_DOMAIN = re.compile(
    r"\b[a-z0-9][a-z0-9-]{2,40}(?:,|\s\.\s|\s*\(\s*dot\s*\)\s*|\s*\[\s*dot\s*\]\s*|\s+dot\s+)"
    r"(?:com|net|org|info|biz|co|in|io|us|uk|xyz|online|site)\b(?!\.\w|\()",
    re.IGNORECASE,
)
# A phone number as written in an advert: an optional +, country code and brackets, then 3-3-4 digits with
# separators (or 10-11 digits in a row); digits inside code or a longer number are not one, but a full stop
# ending the sentence after it ("call 1-877-301-0214.") does not hide it. Scams put up to three symbols between
# the groups to dodge filters ("+1 ➤ 888 ➤ 829 ➤ 0881", "1//888//829//0881", "+1 -805 -250 -8524").
_GAP = r"[^\w\n]{0,3}"
PHONE = re.compile(
    rf"(?<![\w/.=:-])(?:\+?\d{{1,2}}{_GAP})?\(?\d{{3}}\)?{_GAP}\d{{3}}{_GAP}\d{{4}}(?![\w/=:-]|\.\w)")
SUPPORT_WORDS = re.compile(
    r"\b(?:customer\s*(?:care|service|support)|tech(?:nical)?\s*support|support\s*(?:number|line|phone|team)|"
    r"help\s*(?:line|desk)|helpline|toll\s*-?\s*free|contact\s*(?:number|no|us)|phone\s*(?:number|no)|"
    r"call\s*(?:us|now|at|on)|dial|hotline|reservations?|bookings?|flights?|airlines?|whats\s*app|customer\s*number)\b",
    re.IGNORECASE,
)
# Support words this close to a number make it a support number (characters before or after it).
SUPPORT_WINDOW = 80
# The words of generic praise that an advert is dropped after ("Very informative blog, thanks for sharing. Keep
# posting!"): they say nothing of the article, so any article's comment section gets the same.
PRAISE_WORDS = re.compile(
    r"\b(?:thanks?|thankx|thx|great|nice|good|awesome|amazing|excellent|wonderful|informative|useful|helpful|"
    r"valuable|interesting|impressive|brilliant|fantastic|superb|appreciated?|sharing|shared|post|posting|"
    r"article|blog|content|information|write-?up|keep|really|very|loved?|liked?|enjoyed|reading)\b",
    re.IGNORECASE,
)
# Words that commercial spam hosts are built from ("best-essay-writers.com", "cheaprxpills.net"); matched on the
# host name only, never on the path (a tutorial's "/remove-virus/" or "/download" is not an advert).
COMMERCIAL_HOST = re.compile(
    r"essay|assignment|homework|thesis|diploma|loan|payday|cash|credit|lending|casino|poker|slots|jackpot|"
    r"betting|pharma|pills|viagra|cialis|drugstore|supplement|keto|diet|slim|weightloss|testo|muscle|cream|"
    r"serum|skincare|seo(?!ul)|backlink|traffic|marketing|followers|cheap|discount|coupon|deals|escort|dating|hookup|"
    r"hack(?!er|aday|ster|athon)|crack|keygen|apk|movies|crypto|bitcoin|forex|(?<!non)profit|(?<!l)earn|income|"
    r"replica|spell|astrolog|lawyer|attorney|insurance|helpline|customer|booking|flights|tickets|reviews\b|"
    r"writers?|repair",
    re.IGNORECASE,
)
REFERENCE_HOST = re.compile(
    r"(?:^|\.)(?:wikipedia|wikimedia|wiktionary|wikisource|archive|github|gitlab|stackoverflow|stackexchange|"
    r"python|mozilla|w3|ietf|doi|arxiv|jstor|nih|who|un|europa|bbc|cbc|cnn|nytimes|washingtonpost|theguardian|"
    r"guardian|reuters|apnews|npr|pbs|economist|ft|wsj|bloomberg|latimes|theglobeandmail|globeandmail|ctvnews|"
    r"nationalpost|thestar|foxnews|nbcnews|cbsnews|abcnews|aljazeera|politico|theatlantic|newyorker|time|"
    r"forbes|usatoday|google|youtube|youtu|twitter|x|facebook|imgur|"
    # documentation and code hosts, which a tutorial's readers cite
    r"readthedocs|microsoft|apple|android|npmjs|pypi|rust-lang|golang|oracle|php|nodejs|djangoproject|"
    r"palletsprojects|kubernetes|docker|mysql|postgresql|sqlite|ubuntu|askubuntu|debian|archlinux|superuser|"
    r"serverfault|mathworks|w3schools|geeksforgeeks|freecodecamp|jsfiddle|codepen|pastebin|bitbucket|"
    r"sourceforge|apache|gnu|kernel|reactjs|react|vuejs|angular|typescriptlang|scikit-learn|numpy|pandas|"
    r"pytorch|tensorflow|jetbrains|visualstudio|git-scm|nginx|cloudflare|aws|heroku|npm|crates|"
    r"opensource|rfc-editor|oreilly|overleaf|arduino|raspberrypi)\.|"
    r"\.(?:gov|gc\.ca|mil|edu|ac\.[a-z]{2})(?:$|\.)|"
    # a project's documentation ("docs.docker.com", "developer.android.com"), a machine on the reader's desk
    r"^(?:docs|doc|developers?|learn|api|wiki|man|manpages|gist|packages|pkg)\.|^localhost$|"
    r"^(?:\d{1,3}\.){3}\d{1,3}$|^example\.",
    re.IGNORECASE,
)
_HOST = re.compile(r"^(?:https?://)?(?:www\.)?([^/?#:\s]+)", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d{3}")  # a phone number has a run of three digits at least
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# Listed keywords of up to this many words are found (a text's word n-grams, squashed, looked up in a set).
MAX_KEYWORD_WORDS = 4
MIN_LITERAL = 4
_EXPANSIONS = 64


def squash(text: str) -> str:
    """Lower case, letters and digits only: "Alpha-Fuel Testo" and "alphafuel testo" are both "alphafueltesto"."""
    return _NOT_ALNUM.sub("", text.lower())


def _is_separator(op, av) -> bool:
    if op == sre_constants.LITERAL:
        return not chr(av).isalnum()
    if op == sre_constants.IN:
        return all((o == sre_constants.CATEGORY and a in (sre_constants.CATEGORY_NOT_WORD, sre_constants.CATEGORY_SPACE))
                   or (o == sre_constants.LITERAL and not chr(a).isalnum()) for o, a in av)
    return False


def _expand(items) -> list[str] | None:
    """Every squashed string a parsed pattern matches, if it matches few (None otherwise).

    Separators (\\W, \\s, punctuation), anchors and look-arounds match nothing of the squashed string; optional
    parts, alternations and small character sets multiply the strings, up to _EXPANSIONS."""
    out = [""]
    for op, av in items:
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT) or _is_separator(op, av):
            continue
        if op == sre_constants.LITERAL:
            alternatives = [chr(av).lower()]
        elif op == sre_constants.IN:
            chars = []
            for o, a in av:
                if o == sre_constants.LITERAL:
                    chars.append(chr(a).lower())
                elif o == sre_constants.RANGE and a[1] - a[0] < 12:
                    chars += [chr(c).lower() for c in range(a[0], a[1] + 1)]
                else:
                    return None
            alternatives = sorted({c if c.isalnum() else "" for c in chars})
        elif op == sre_constants.SUBPATTERN:
            alternatives = _expand(av[3])
        elif op == sre_constants.BRANCH:
            alternatives = []
            for branch in av[1]:
                expanded = _expand(branch)
                if expanded is None:
                    return None
                alternatives += expanded
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, high, sub = av
            if all(_is_separator(o, a) for o, a in sub):
                continue
            inner = _expand(sub)
            if inner is None or not (low == high <= 3 or (low, high) == (0, 1)):
                return None
            alternatives = [""] + inner if (low, high) == (0, 1) else [s * low for s in inner]
        else:
            return None
        if alternatives is None:
            return None
        out = [o + a for o in out for a in alternatives]
        if len(out) > _EXPANSIONS:
            return None
    return out


def literals(patterns) -> tuple[frozenset, int]:
    """(the squashed strings of the patterns that expand to a few, how many patterns were used).

    A pattern that matches an open-ended set (".{0,20}", "\\w*") is left out: its literal parts alone would
    match far more than it does."""
    found, used = set(), 0
    for pattern in patterns:
        try:
            expanded = _expand(sre_parse.parse(pattern, re.IGNORECASE))
        except (re.error, RecursionError, ValueError, OverflowError, TypeError):
            expanded = None
        strings = [s for s in expanded or () if len(s) >= MIN_LITERAL and s.isascii()]
        if strings:
            found.update(strings)
            used += 1
    return frozenset(found), used


def phone_digits(text: str) -> list[str]:
    """The digits of each phone-number-like run of `text` (7 to 15 digits), without a leading 1 or country 1."""
    out = []
    for match in PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 7 <= len(digits) <= 15:
            out.append(digits)
    return out


def phone_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in PHONE.finditer(text)]


def _number_keys(number: str) -> set[str]:
    digits = re.sub(r"\D", "", number)
    keys = {digits} if len(digits) >= 7 else set()
    if len(digits) == 11 and digits.startswith("1"):
        keys.add(digits[1:])
    return keys


def compile_lists(keywords=(), websites=(), numbers=()) -> dict:
    """The lists as the transformer keeps them: squashed literal sets, and the counts of what was usable."""
    keyword_set, keywords_used = literals(keywords)
    website_set, websites_used = literals(websites)
    number_set = set()
    for number in numbers:
        number_set |= _number_keys(number)
    return {"keywords": keyword_set, "websites": website_set, "numbers": frozenset(number_set),
            "website_lengths": tuple(sorted({len(w) for w in website_set})),
            "used": {"keywords": keywords_used, "websites": websites_used, "numbers": len(number_set)}}


class WebSpamSignals(TransformerMixin, BaseEstimator):
    """Article-comment spam signals (module docstring); `lists` is `compile_lists(...)` or None for none."""

    def __init__(self, lists: dict | None = None):
        self.lists = lists

    def fit(self, X=None, y=None):
        lists = self.lists or compile_lists()
        self.keywords_ = lists["keywords"]
        # Every start of a listed keyword: a run of words stops growing as soon as it starts none.
        self.keyword_prefixes_ = frozenset(k[:i] for k in self.keywords_ for i in range(1, len(k) + 1))
        self.websites_ = lists["websites"]
        self.numbers_ = lists["numbers"]
        self.website_lengths_ = lists["website_lengths"]
        self.n_features_out_ = len(WEBSPAM_NAMES)
        return self

    @property
    def width_(self) -> int:
        """Columns this fitted block gives: a model saved before `praise_advert` was added (its
        `n_features_out_` is 9) keeps its nine, so it still loads and scores."""
        return getattr(self, "n_features_out_", len(WEBSPAM_NAMES) - 1)

    def transform(self, X) -> np.ndarray:
        return self.rows(list(X))

    def rows(self, texts: list[str]) -> np.ndarray:
        """`transform` without scikit-learn's output wrapping (the single-comment scorer's path)."""
        return np.tanh(np.array([self._row(text) for text in texts], dtype=np.float64).reshape(
            len(texts), len(WEBSPAM_NAMES))[:, :self.width_])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags

    def _listed_keywords(self, words: list[str]) -> tuple[int, int]:
        """(matches, words covered) of the listed keywords among the text's 1- to 4-word runs."""
        found, covered = 0, set()
        keywords, prefixes = self.keywords_, self.keyword_prefixes_
        for start in range(len(words)):
            joined = ""
            for size in range(MAX_KEYWORD_WORDS):
                if start + size >= len(words):
                    break
                joined += words[start + size]
                if joined not in prefixes:
                    break
                if len(joined) >= MIN_LITERAL and joined in keywords:
                    found += 1
                    covered.update(range(start, start + size + 1))
        return found, len(covered)

    def _listed_website(self, link: str) -> bool:
        squashed = squash(link)
        websites = self.websites_
        for length in self.website_lengths_:
            if length > len(squashed):
                break
            for start in range(len(squashed) - length + 1):
                if squashed[start:start + length] in websites:
                    return True
        return False

    def _row(self, text: str) -> tuple:
        lowered = text.lower()
        words = [w for w in _WORD.findall(lowered)]
        n_words = max(len(words), 1)
        keywords, keyword_words = self._listed_keywords(words) if self.keywords_ else (0, 0)
        links = LINK.findall(text) if ("." in text or ":" in text) else []
        written = WRITTEN_DOMAIN.findall(text) if ("," in text or "dot" in lowered or " . " in text) else []
        listed_sites = commercial = reference = 0
        link_words = advert_link_words = 0
        for link in links:
            host = _HOST.match(link)
            host = host.group(1).lower() if host else link.lower()
            if self.websites_ and self._listed_website(link):
                listed_sites += 1
            words = len(_WORD.findall(link))
            link_words += words
            if REFERENCE_HOST.search(host):
                reference += 1  # a reference is no advert: its words are not the advert's share
            else:
                advert_link_words += words
                if COMMERCIAL_HOST.search(host):
                    commercial += 1
        for domain in written:
            if self.websites_ and self._listed_website(domain):
                listed_sites += 1
            if COMMERCIAL_HOST.search(domain):
                commercial += 1
        phones = phone_digits(text) if _DIGITS.search(text) else []
        listed_numbers = 0
        for digits in phones:
            if digits in self.numbers_ or (len(digits) == 11 and digits[0] == "1" and digits[1:] in self.numbers_):
                listed_numbers += 1
        support = sum(1 for start, end in phone_spans(text) if SUPPORT_WORDS.search(
            text, max(0, start - SUPPORT_WINDOW), end + SUPPORT_WINDOW)) if phones else 0
        advert_words = min(advert_link_words + 3 * len(written) + 3 * len(phones) + keyword_words, n_words + link_words)
        advert_share = advert_words / (n_words + 1)
        other_words = n_words - link_words
        link_only = 1.0 if (links or written) and other_words <= 3 else 0.0
        # Generic praise around an advert (a link that is no reference, a written-out domain, a phone number):
        # the share of the other words that are praise, when the comment has such an advert.
        praise = 0.0
        if advert_link_words or written or phones:
            praise = len(PRAISE_WORDS.findall(text)) / max(n_words - link_words, 1)
        return (keywords, listed_sites, listed_numbers, support, len(written), commercial, reference,
                advert_share * 2, link_only, praise * 2)
