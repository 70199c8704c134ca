"""Where the training data comes from: `../shared/data` in this workspace, the public URLs everywhere else.

`ensure_data()` returns a folder holding the three public sets. It prefers `MODERATION_DATA_DIR`, then
`../shared/data` beside the project, then the project's own `data/` (git-ignored), which it fills by downloading
the files from their public homes and checking each file's SHA-256 against the copies this project was built on.

Where the build cannot reach those homes (an air-gapped build host, a CI network with an artefact proxy),
`MODERATION_DATA_MIRROR` names a base URL (`https://artifacts.example/moderation-data`, or `file:///srv/data`)
that serves the same downloads under their last path component (`youtube+spam+collection.zip`,
`sms+spam+collection.zip`, `full-comments-u.json`); the SHA-256 checks are the same, so a mirror cannot change
what a model is trained on.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from moderation.registry import sha256_file  # noqa: F401 - re-exported: training code hashes data files with it

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TOXIC_SPANS = ("https://raw.githubusercontent.com/ipavlopoulos/toxic_spans/"
                "beaf170538df8275c3447b2e26070f2f82e55272")
_CONTEXT_TOXICITY = ("https://raw.githubusercontent.com/ipavlopoulos/context_toxicity/"
                     "5df49c294e6a41f0ba351e65fda7c315aa4cc168/data/CAT_LARGE")
_SMOKEDETECTOR = "https://raw.githubusercontent.com/Charcoal-SE/SmokeDetector"
# file inside the data folder -> (SHA-256, public URL, member name when the URL is a zip archive)
FILES = {
    "youtube-spam-collection/Youtube01-Psy.csv": (
        "19797e6c77690e3c8809cfd2853ae7341390636367ba66cf5d4f4083f0b88535",
        "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip", "Youtube01-Psy.csv"),
    "youtube-spam-collection/Youtube02-KatyPerry.csv": (
        "902c614f8ef24f987d6f614d7e6111aa5160b89a0646b68e007bd6044a3d123b",
        "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip", "Youtube02-KatyPerry.csv"),
    "youtube-spam-collection/Youtube03-LMFAO.csv": (
        "702ef589860a1831956f527760a3d9737ef8a07ab36c7de35b92b8898b8c3928",
        "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip", "Youtube03-LMFAO.csv"),
    "youtube-spam-collection/Youtube04-Eminem.csv": (
        "92f54eb6b22fdf3b7ae85e1f500e5aa7442edd025e504b988a97078756187e76",
        "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip", "Youtube04-Eminem.csv"),
    "sms-spam-collection/SMSSpamCollection": (
        "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",
        "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip", "SMSSpamCollection"),
    "fox-news-comments/fox-news-comments.json": (
        "059152e61f632f1e6671a68214d5618a21e6cf78f2512773e0421b9568aab8cf",
        "https://raw.githubusercontent.com/sjtuprog/fox-news-comments/master/full-comments-u.json", None),
    "civil-comments-toxic-spans/comments.csv": (
        "76cd6ebd10a890d269c0a7e5e451f3da12375219906f314fd9cfb1e18b1a905f",
        f"{_TOXIC_SPANS}/data/comments.csv", None),
    "civil-comments-toxic-spans/annotations.csv": (
        "f67725aa9de73cd4ef9050222f6ae985ef0e33e8da89cb8137ffeb9a1d0fc32b",
        f"{_TOXIC_SPANS}/data/annotations.csv", None),
    "civil-comments-toxic-spans/semeval2021/tsd_train.csv": (
        "b538ea2d64ed7c306ff8f010a25a5286bef6ce61d469042482ba64efc1ddd6cd",
        f"{_TOXIC_SPANS}/SemEval2021/data/tsd_train.csv", None),
    "civil-comments-toxic-spans/semeval2021/tsd_trial.csv": (
        "6bb8e9a16470c0269ac8727fd8bb77df68d8fb27955d9f5ff29ad724505622e8",
        f"{_TOXIC_SPANS}/SemEval2021/data/tsd_trial.csv", None),
    "civil-comments-toxic-spans/semeval2021/tsd_test.csv": (
        "74f4dd086667fdad6198539ff9201d1f25f3a94c5169da1e7643a949974bf6b8",
        f"{_TOXIC_SPANS}/SemEval2021/data/tsd_test.csv", None),
    "wikipedia-talk-discussions/gn.csv": (
        "def84ddcff46dfd628e3d37c9c81b9cb81d7cf35e82197212a5758c0d24fb667", f"{_CONTEXT_TOXICITY}/gn.csv", None),
    "wikipedia-talk-discussions/gc.csv": (
        "7939002c35bfdaf4c406e8fb7e206dfe5a6801b24f60bf6faa51442a26701dea", f"{_CONTEXT_TOXICITY}/gc.csv", None),
    "smokedetector/bad_keywords.txt": (
        "5cdea996ec3babe2b33fa3877401536fe8d8dc35895ffb69cb1a0e2c27c03e73",
        f"{_SMOKEDETECTOR}/9c154c2e41a312af8367b0c6eb0583b418af34b7/bad_keywords.txt", None),
    "smokedetector/blacklisted_websites.txt": (
        "a14270b9a9da4890491683f99f73e9e2074e898911757d9c1d21150ecec06183",
        f"{_SMOKEDETECTOR}/129be621f433379dcd35b16a3b9b98032f62d1fc/blacklisted_websites.txt", None),
    "smokedetector/blacklisted_numbers.txt": (
        "4d0a3447e3f4568544aa261224a1fd12e1fdf6dbb4e38a5316c7bb194823cb62",
        f"{_SMOKEDETECTOR}/a9e758c78e3e1bbe0b11d149bd4d48b48d6e6aaa/blacklisted_numbers.txt", None),
}
SEED_ARTICLE = "seed/000_0e914d85ad094d08.txt"


class DataUnavailable(RuntimeError):
    """The data is neither present nor downloadable; the message says what to do."""


def candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("MODERATION_DATA_DIR"):
        dirs.append(Path(os.environ["MODERATION_DATA_DIR"]))
    dirs += [PROJECT_ROOT.parent / "shared" / "data", PROJECT_ROOT / "data"]
    return dirs


def find_data_dir() -> Path | None:
    """The first folder that holds every training file, or None."""
    for folder in candidate_dirs():
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def data_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every training file, recorded in each model's metadata."""
    return {name: sha256_file(folder / name) for name in FILES}


def ensure_data(download: bool = True) -> Path:
    """Return the data folder, downloading into the project's `data/` when no copy is found."""
    folder = find_data_dir()
    if folder is not None:
        return folder
    if not download:
        raise DataUnavailable("training data not found; run `make setup` or set MODERATION_DATA_DIR")
    return download_data(PROJECT_ROOT / "data")


def download_data(target: Path) -> Path:
    """Download every file from its public home, check its SHA-256 and only then move it into place."""
    archives: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        staged = {}
        for name, (expected, url, member) in FILES.items():
            source = mirrored(url)
            if source not in archives:
                archives[source] = _fetch(source)
            payload = archives[source]
            if member is not None:
                payload = _zip_member(payload, member, source)
            actual = hashlib.sha256(payload).hexdigest()
            if actual != expected:
                raise DataUnavailable(f"{source} ({member or 'file'}) has SHA-256 {actual}, expected {expected}")
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
            staged[name] = path
        for name, path in staged.items():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), destination)
    return target


def download_name(url: str) -> str:
    """The name a mirror serves the download at `url` under: its last path component."""
    return url.rsplit("/", 1)[-1]


def mirrored(url: str) -> str:
    """`url`, or its file under `MODERATION_DATA_MIRROR` when that is set."""
    mirror = os.environ.get("MODERATION_DATA_MIRROR", "").strip()
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + download_name(url)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed URLs above, or the mirror
            return response.read()
    except (OSError, ValueError) as exc:  # ValueError: not a URL (a mirror given as a path without file://)
        raise DataUnavailable(
            f"could not download {url}: {exc}. Put the files in ../shared/data or MODERATION_DATA_DIR, "
            "or serve them from a mirror named by MODERATION_DATA_MIRROR"
        ) from None


def write_mirror(folder: Path, target: Path) -> list[Path]:
    """Write into `target` the downloads a `MODERATION_DATA_MIRROR` serves, rebuilt from the data in `folder` (the
    zip archives hold the same members; the members' SHA-256 is what `download_data` checks). Returns the files."""
    members: dict[str, list[tuple[str, str]]] = {}
    for name, (_, url, member) in FILES.items():
        members.setdefault(download_name(url), []).append((name, member))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for download, entries in members.items():
        path = target / download
        if entries[0][1] is None:
            shutil.copyfile(folder / entries[0][0], path)
        else:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, member in entries:
                    archive.write(folder / name, member)
        written.append(path)
    return written


def _zip_member(payload: bytes, member: str, url: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            for info in archive.infolist():
                if Path(info.filename).name == member:
                    return archive.read(info)
    except zipfile.BadZipFile as exc:  # e.g. an HTML page from a proxy or a moved file
        raise DataUnavailable(f"{url} is not a zip archive ({exc}; {len(payload)} bytes starting "
                              f"{payload[:40]!r}). Put the files in ../shared/data or MODERATION_DATA_DIR") from None
    raise DataUnavailable(f"{url} has no member {member}")


def seed_article_path() -> Path | None:
    for folder in candidate_dirs():
        if (folder / SEED_ARTICLE).is_file():
            return folder / SEED_ARTICLE
    return None
