"""Article-comment spam made from the training data's own legitimate comments and SmokeDetector's lists.

The shared labelled spam is YouTube channel plugs and SMS prizes. What article comment sections get is different
(see `moderation.webspam`), and no labelled set of it can be shipped. So training adds counterfactual pairs: a
legitimate comment of the training part stays legitimate, and the same comment with an advert added becomes
spam - an SEO link after it, a domain written out, a fake support number for a brand, keyword stuffing at its
end, or an essay, loan, casino or pharma pitch. The host comments are real, so the model cannot learn "praise is
spam" or "news words are spam": the only difference inside a pair is the advert. A few link-only and pitch-only
comments are added too.

A tutorial blog's readers write what no shared data set has: an error message, a command, a line of code, a link
to the docs. Those comments are written from parts (`tutorial_comment`) and are hosts like the real ones:
legitimate alone or citing a reference, spam with an advert added.

The adverts are built from the list entries (blacklisted websites and numbers, bad keywords) and from made-up
hosts and numbers of the same shapes, half each, so the model learns the shape rather than the list. Only the
training part's comments are used as hosts (`train_model` adds them after the split), and the generator is
seeded, so a training run is reproducible. The evaluation of this spam is on real posts the generator never
saw (the quality bench).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from training import datasets

SOURCE = "article-spam"
# Article-comment spam examples per 100 legitimate training comments, at most MAX_EXAMPLES.
PER_HUNDRED_HAM = 8
MAX_EXAMPLES = 3000
SEED = 20261206

PRAISE = (
    "Thanks for sharing", "Very informative article", "Great post", "Nice blog", "Really helpful information",
    "I found this very useful", "Excellent write-up", "This is a great read", "Keep up the good work",
    "Amazing content", "Thank you for this", "Well explained", "Good article", "Interesting post, thanks",
)
LINK_LEADS = (
    "Visit {link}", "Check {link}", "More info at {link}", "Read more: {link}", "See {link}", "{link}",
    "For more visit {link}", "Click here {link}", "My site: {link}", "Also check this {link}", "Source: {link}",
    "Get it here {link}", "{anchor} {link}", "{link} {anchor}", "Best {anchor} - {link}",
)
ANCHORS = (
    "cheap essay writing service", "payday loans online", "best online casino", "buy cheap pills online",
    "SEO services", "free movies online", "keto diet pills", "web design company", "car accident lawyer",
    "buy instagram followers", "crypto trading signals", "weight loss supplement", "assignment help",
    "cheap flights", "antivirus support", "replica watches", "online pharmacy", "personal loans",
)
SUPPORT = (
    "{brand} customer service number {number}", "Call {brand} support at {number}",
    "{brand} helpline number {number} (toll free)", "For {brand} reservations call {number}",
    "{brand} technical support phone number {number}", "Contact {brand} customer care {number} 24/7",
    "Need help with {brand}? Dial {number}", "{brand} booking number {number}, call now",
)
BRANDS = (
    "Delta Airlines", "United Airlines", "American Airlines", "Southwest", "Emirates", "Lufthansa", "Expedia",
    "Booking.com", "QuickBooks", "HP printer", "Epson printer", "Canon printer", "Norton", "McAfee", "Gmail",
    "Yahoo mail", "Outlook", "Coinbase", "Binance", "Cash App", "PayPal", "Facebook", "Amazon", "Netflix",
    "Roku", "Garmin", "AOL", "Comcast", "Verizon", "Trust Wallet",
)
PITCHES = (
    "We write essays for students, plagiarism free, any deadline. Order now at {link}",
    "Need a loan? We offer loans at 2% interest, no credit check. Contact {number}",
    "Get instant cash today, fast approval: {link}",
    "Play at the best online casino and win big, 200% bonus at {link}",
    "Buy {keyword} online without prescription, fast shipping {link}",
    "I earn $500 a day working from home, see how at {link}",
    "Do you need a hacker? Contact us on WhatsApp {number}",
    "Lost your ex? Powerful love spell caster, call {number}",
    "{keyword} really works, I lost 20 pounds. Order at {link}",
)
REFERENCES = (
    "https://en.wikipedia.org/wiki/{word}", "https://www.bbc.com/news/world-{n}", "https://www.cbc.ca/news/{word}",
    "https://www.theguardian.com/world/{n}/{word}", "https://github.com/{word}/{word}/issues/{n}",
    "https://stackoverflow.com/questions/{n}/{word}", "https://www.reuters.com/world/{word}-{n}",
    "https://www.nytimes.com/{n}/{word}.html", "https://docs.python.org/3/library/{word}.html",
    "https://www.youtube.com/watch?v=dQw4w{n}", "https://www.canada.ca/en/{word}.html",
    "https://docs.{word}.org/en/latest/{word}.html", "https://developer.mozilla.org/en-US/docs/Web/{word}",
    "https://learn.microsoft.com/en-us/dotnet/api/{word}", "https://gist.github.com/{word}/{n}",
    "https://pypi.org/project/{word}/", "https://www.npmjs.com/package/{word}", "http://localhost:{n}/{word}",
    "https://{word}.readthedocs.io/en/stable/", "https://askubuntu.com/questions/{n}/{word}",
    "https://developer.android.com/reference/{word}", "http://127.0.0.1:{n}/",
)
# A tutorial's readers: short questions, reports and thanks with an error message, a command or a bit of code.
# They are legitimate, and with an advert added (as every host comment is) they are spam.
TUTORIAL = (
    "I get {error} when I run step {n}.", "Step {n} fails for me with {error}", "{opener} I still get {error}",
    "{opener} {command} fixed it for me.", "Does this work with {tool} {version}? I get {error}",
    "{opener} on {tool} {version} you also need to run {command}", "In step {n}, why {code} and not the other way?",
    "{opener} my code: {code} gives {error}", "{opener} worked for me on {tool} {version}.",
    "Had the same problem, {command} solved it.", "{opener} small typo in step {n}: it should be {code}",
    "{opener} after {command} I get {error}, any idea?", "What does {code} do in step {n}?",
    # the everyday words of software ("click", "download", "free", "share", "check out", "join") are no promotion
    "When I click {button} nothing happens.", "Can you share the {word} file from step {n}?",
    "Where do I download the {word} package? The link in step {n} is dead.", "Is the free version of {tool} enough?",
    "Check out the {tool} docs on {word}, they explain it better.", "{opener} please reply, I am stuck at step {n}.",
    "I used a LEFT JOIN on {word} and it works now.", "Visit the settings page and click {button}, then retry.",
)
BUTTONS = ("Save", "Run", "Build", "Submit", "Install", "Next", "Advanced", "Sign in", "Deploy", "OK")
OPENERS = ("Thanks!", "Hi,", "Great tutorial.", "Hello sir,", "Thanks for the guide.", "Nice write-up.", "Hey,",
           "Followed every step.", "Quick question:", "")
ERRORS = (
    "ModuleNotFoundError: No module named '{word}'", "Permission denied (publickey)", "404 Not Found",
    "TypeError: 'NoneType' object is not subscriptable", "a segmentation fault", "Connection refused",
    "SyntaxError: invalid syntax", "npm ERR! code ERESOLVE", "java.lang.NullPointerException",
    "fatal: not a git repository", "500 Internal Server Error", "'{word}' is not recognized as a command",
    "KeyError: '{word}'", "ImportError: cannot import name '{word}'", "error {n}", "exit code {n}",
    "Access denied for user 'root'@'localhost'", "undefined reference to `{word}'", "a blank page",
)
COMMANDS = (
    "pip install {word}", "sudo apt install lib{word}-dev", "npm install --save {word}", "git pull origin main",
    "chmod +x {word}.sh", "export PATH=$HOME/.local/bin:$PATH", "docker compose up -d", "brew install {word}",
    "python -m venv .venv", "sudo systemctl restart {word}", "rm -rf node_modules", "conda install {word}",
)
CODE = (
    "df.groupby('{word}').sum()", "for i in range({n}): print(i)", "SELECT * FROM {word} WHERE id = {n};",
    "import {word}", "const {word} = require('{word}');", "location / {{ proxy_pass http://127.0.0.1:{n}; }}",
    "if (x == null) return;", "self.{word} = {word}", "os.path.join(base, '{word}')", "<div class=\"{word}\">",
    "ls -la /var/log/{word}", "{word}.fit(X, y)", "public static void main(String[] args)",
)
# A project's own site, which a reader may cite beside the reference sites (with a reader's comment only).
PROJECT_LINKS = ("https://{word}.github.io/", "https://{word}.dev/docs/", "https://www.{word}.org/download/",
                 "https://{word}.io/docs/{word}", "http://{word}.sourceforge.net/manual.html")
TOOLS = ("Python", "Ubuntu", "Windows", "macOS", "Node", "Django", "Java", "PHP", "Android Studio", "Docker")
TLDS = ("com", "net", "org", "info", "co", "in", "online", "site", "xyz", "biz")
WORDS = ("best", "top", "pro", "smart", "easy", "quick", "prime", "expert", "global", "my", "the", "real", "hub",
         "zone", "world", "online", "guide", "help", "deal", "review", "king", "star", "web", "go", "net")


def load_lists(folder: Path) -> dict[str, list[str]]:
    """SmokeDetector's lists (`../shared/data/smokedetector`): their lines, without comments and blank lines."""
    lists = {}
    for name, file in (("keywords", "bad_keywords.txt"), ("websites", "blacklisted_websites.txt"),
                       ("numbers", "blacklisted_numbers.txt")):
        path = Path(folder) / file
        if not path.is_file():
            raise datasets.DataError(f"{path} is missing")
        lists[name] = [line.rstrip("\n") for line in path.open(encoding="utf-8")
                       if line.strip() and not line.startswith("#")]
    return lists


def list_part(lists: dict[str, list[str]], part: int, parts: int = 2) -> dict[str, list[str]]:
    """Every `parts`-th entry of each list (by a hash of the entry): the evaluation trains on one part and tests
    on spam made from another, so a listed website or number seen in training never makes a test comment."""
    return {name: [entry for entry in entries if datasets._bucket(entry) % parts == part]
            for name, entries in lists.items()}


_PLAIN_DOMAIN = re.compile(r"^[a-z0-9-]+\\\.[a-z]{2,6}$")
_PLAIN_WORDS = re.compile(r"^[a-z][a-z ]{3,30}$")


def tutorial_comment(rng: random.Random, word: str) -> str:
    """A short legitimate comment of a tutorial's reader (TUTORIAL), about `word`."""
    n = rng.randint(1, 9000) if rng.random() < 0.3 else rng.randint(1, 9)
    fill = {"word": word, "n": n}
    text = rng.choice(TUTORIAL).format(
        opener=rng.choice(OPENERS), n=n, error=rng.choice(ERRORS).format(**fill), button=rng.choice(BUTTONS), word=word,
        command=rng.choice(COMMANDS).format(**fill), code=rng.choice(CODE).format(**fill), tool=rng.choice(TOOLS),
        version=rng.choice(("3.12", "22.04", "11", "18.17.0", "8.0.35", "14", "v2", "4.2"))).strip()
    return text[:1].upper() + text[1:]


class AdvertMaker:
    """Adverts of every kind, half from the lists' entries and half made up in the same shapes."""

    def __init__(self, lists: dict[str, list[str]], rng: random.Random):
        self.rng = rng
        self.domains = [d.replace("\\.", ".") for d in lists["websites"] if _PLAIN_DOMAIN.match(d)]
        self.keywords = [k for k in lists["keywords"] if _PLAIN_WORDS.match(k)]
        self.numbers = [n for n in lists["numbers"] if sum(c.isdigit() for c in n) >= 10]

    def domain(self) -> str:
        rng = self.rng
        if self.domains and rng.random() < 0.5:
            return rng.choice(self.domains)
        parts = [rng.choice(WORDS), rng.choice(ANCHORS).split()[-1].lower(), rng.choice(("", "s", "24", "hq", "now"))]
        return "".join(parts) + "." + rng.choice(TLDS)

    def link(self) -> str:
        rng, domain = self.rng, self.domain()
        kind = rng.random()
        if kind < 0.15:  # written out to dodge link filters
            name, _, tld = domain.rpartition(".")
            return rng.choice((f"{name},{tld}", f"{name} dot {tld}", f"{name}(dot){tld}", f"{name} . {tld}"))
        if kind < 0.35:
            return domain
        path = rng.choice(("", "/", "/blog/" + "-".join(rng.sample(WORDS, 3)), "/?ref=" + str(rng.randint(1, 999))))
        return rng.choice(("http://", "https://", "https://www.", "www.")) + domain + path

    def number(self) -> str:
        rng = self.rng
        if self.numbers and rng.random() < 0.5:
            return rng.choice(self.numbers)
        a, b, c = rng.choice(("800", "833", "844", "855", "866", "877", "888")), rng.randint(200, 999), rng.randint(0, 9999)
        return rng.choice((f"+1-{a}-{b}-{c:04d}", f"1 ({a}) {b} {c:04d}", f"{a}.{b}.{c:04d}", f"+1{a}{b}{c:04d}",
                           f"+1 ➤ {a} ➤ {b} ➤ {c:04d}", f"1//{a}//{b}//{c:04d}", f"+1 -{a} -{b} -{c:04d}"))

    def keyword(self) -> str:
        return self.rng.choice(self.keywords) if self.keywords else self.rng.choice(ANCHORS)

    def advert(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.4:
            return rng.choice(LINK_LEADS).format(link=self.link(), anchor=rng.choice(ANCHORS))
        if kind < 0.6:
            return rng.choice(SUPPORT).format(brand=rng.choice(BRANDS), number=self.number())
        if kind < 0.75:  # keyword stuffing
            return rng.choice((", ", " ", " | ")).join(self.keyword() for _ in range(rng.randint(2, 5)))
        return rng.choice(PITCHES).format(link=self.link(), number=self.number(), keyword=self.keyword())


def article_spam(train: list[datasets.Example], lists: dict[str, list[str]], seed: int = SEED,
                 per_hundred: int = PER_HUNDRED_HAM, limit: int = MAX_EXAMPLES,
                 tutorial: bool = True) -> list[datasets.Example]:
    """Spam examples made from the legitimate comments of `train` (see the module docstring); with `tutorial`,
    tutorial readers' comments too, legitimate alone and spam with an advert."""
    rng = random.Random(seed)
    hosts = sorted((e.text for e in train if e.label == "ham" and e.text.strip()), key=datasets.dedup_key)
    if not hosts:
        return []
    maker = AdvertMaker(lists, rng)
    count = min(limit, max(1, len(hosts) * per_hundred // 100))
    short = [h for h in hosts if len(h.split()) <= 15] or hosts
    out, readers = [], []
    if tutorial:
        words = sorted({w.lower() for h in short[:2000] for w in re.findall(r"[A-Za-z]{4,12}", h)}) or ["app"]
        readers = [tutorial_comment(rng, rng.choice(words)) for _ in range(count // 4)]
        out += [datasets.Example(text, "ham", SOURCE, group=SOURCE) for text in readers]
        short = short + readers
    reader_set = set(readers)
    for _ in range(count):
        kind = rng.random()
        advert = maker.advert()
        if kind < 0.35:  # generic praise, or a short real comment, then the advert
            host = rng.choice(PRAISE) + rng.choice((".", "!", ", ")) if rng.random() < 0.5 else rng.choice(short)
            text = f"{host} {advert}"
        elif kind < 0.8:  # a real comment (or a tutorial reader's) with the advert at its end, or its start
            host = rng.choice(readers) if readers and rng.random() < 0.3 else rng.choice(hosts)
            text = f"{host} {advert}" if rng.random() < 0.8 else f"{advert} {host}"
        else:  # the advert alone
            text = advert
        out.append(datasets.Example(text, "spam", SOURCE, group=SOURCE))
    # A legitimate comment citing a reference stays legitimate: links as such are not the advert.
    for _ in range(count // 2):
        if readers and rng.random() < 0.3:
            host = rng.choice(readers)
        else:
            host = rng.choice(short) if rng.random() < 0.5 else rng.choice(hosts)
        words = [w for w in re.findall(r"[A-Za-z]{4,}", host)] or ["News"]
        if host in reader_set and rng.random() < 0.4:
            link = rng.choice(PROJECT_LINKS).format(word=rng.choice(words).lower())
        else:
            link = rng.choice(REFERENCES).format(word=rng.choice(words).capitalize(), n=rng.randint(1000, 99999))
        text = rng.choice(("{host} See {link}", "{host} Source: {link}", "{host} ({link})", "{link} {host}",
                           "{host} The docs: {link}", "{host} This fixed it for me: {link}"))
        out.append(datasets.Example(text.format(host=host, link=link), "ham", SOURCE, group=SOURCE))
    # The praise alone is legitimate: only the advert after it makes the pair's spam.
    out += [datasets.Example(p, "ham", SOURCE, group=SOURCE) for p in PRAISE]
    return out
