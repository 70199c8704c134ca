"""The model registry: versioned artifacts on disk, pinned by SHA-256, with a pointer to the live version.

Layout under the registry root (``models/`` by default)::

    <version>/model.joblib     a dict of fitted models: {"spam": Pipeline, "relevance": ...}
    <version>/metadata.json    library versions, data hashes, metrics, thresholds, creation time, sha256
    current                    the live version's name (replaced atomically)
    history.jsonl              every change of the live version, appended

Loading a joblib file executes code and needs the library versions it was written with, so `load` checks the
artifact's SHA-256 and the versions first and raises `ModelLoadError` on any mismatch: never a silent fallback.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import joblib

ARTIFACT = "model.joblib"
METADATA = "metadata.json"
CURRENT = "current"
HISTORY = "history.jsonl"
PINNED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")
# The shape of what model.joblib holds (feature blocks, relevance features). Bump it whenever a change to
# moderation/ makes artifacts trained before it score wrongly or fail: loading then refuses them with a clear
# message instead of failing on the first request.
ARTIFACT_FORMAT = 6  # 3: the spam pipeline's promotion signals block (moderation.promotion); 4: also the relevance
#                        model's word vectors (moderation/semantic.py); 5: the spam pipeline's link kinds
#                        (moderation.links: a `zzvideo` placeholder and a video-links block); 6: the signals
#                        block counts promotion phrases per 20 words (features.signal_features_per_words)


class ModelLoadError(RuntimeError):
    """The artifact is missing, tampered with or built with other library versions."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version. `artifact` is a dict of fitted models by name: "spam" (a Pipeline), and
    optionally "relevance"."""

    version: str
    artifact: dict
    metadata: dict

    @property
    def spam(self):
        return self.artifact["spam"]

    @property
    def relevance(self):
        return self.artifact.get("relevance")


def library_versions() -> dict[str, str]:
    """The installed versions, from the modules when they are imported already, else from the installed
    packages' metadata (the same strings): `verify` alone then imports no scikit-learn or scipy (rescore's main
    process, ~70 MiB)."""
    import sys
    from importlib import metadata

    def version(module: str, distribution: str) -> str:
        loaded = sys.modules.get(module)
        return loaded.__version__ if loaded is not None else metadata.version(distribution)

    return {
        "python": platform.python_version(),
        "scikit-learn": version("sklearn", "scikit-learn"),
        "numpy": version("numpy", "numpy"),
        "scipy": version("scipy", "scipy"),
        "joblib": joblib.__version__,
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (reading it means setting it: done under a lock, and put back at once)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    """Write a small file so that readers see either the old or the new content, and it survives a crash.

    The file gets the mode an ordinary `open()` would give it (0644 under the usual umask 022), not mkstemp's 0600:
    a model trained by one user is served by another (the container's non-root user, a deploy account)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unreadable(path: Path, exc: OSError) -> str:
    return (f"cannot read {path}: {exc.strerror or exc} (the models folder must be readable by the user the "
            f"service runs as, uid {os.getuid()}: e.g. `chmod -R a+rX` it)")


class ModelRegistry:
    """Versioned model artifacts in one folder, and which of them is live."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def versions(self) -> list[str]:
        """All versions with a metadata file, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{METADATA}"))

    def current_version(self) -> str | None:
        try:
            return (self.root / CURRENT).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelLoadError(_unreadable(self.root / CURRENT, exc)) from None

    def metadata(self, version: str) -> dict:
        path = self.root / version / METADATA
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelLoadError(f"model version {version!r} not found under {self.root}") from None
        except OSError as exc:
            raise ModelLoadError(_unreadable(path, exc)) from None
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None

    def save(self, artifact: dict, metadata: dict, created: datetime | None = None) -> str:
        """Write a new version (artifact first, metadata last, then an atomic rename) and return its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        created = created or datetime.now(timezone.utc)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700; a version is read by the serving user too
        joblib.dump(artifact, staging / ARTIFACT, compress=3)
        digest = sha256_file(staging / ARTIFACT)
        version = f"{created:%Y%m%d-%H%M%S}-{digest[:8]}"
        full = {
            **metadata,
            "version": version,
            "created_at": created.isoformat(timespec="seconds"),
            "sha256": digest,
            "libraries": library_versions(),
            "artifact_format": ARTIFACT_FORMAT,
        }
        (staging / METADATA).write_text(json.dumps(full, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(staging, self.root / version)
        return version

    def verify(self, version: str) -> dict:
        """Check the artifact's hash and library versions without loading it; return its metadata."""
        metadata = self.metadata(version)
        artifact = self.root / version / ARTIFACT
        if not artifact.is_file():
            raise ModelLoadError(f"model version {version!r} has no {ARTIFACT}")
        try:
            actual = sha256_file(artifact)
        except OSError as exc:
            raise ModelLoadError(_unreadable(artifact, exc)) from None
        if actual != metadata.get("sha256"):
            raise ModelLoadError(
                f"model {version} failed its checksum: {ARTIFACT} has SHA-256 {actual}, "
                f"metadata says {metadata.get('sha256')}; the artifact was changed after training"
            )
        built, here = metadata.get("libraries", {}), library_versions()
        mismatched = [f"{lib} {built.get(lib)} (here {here[lib]})" for lib in PINNED_LIBRARIES if built.get(lib) != here[lib]]
        if built.get("python", "").rsplit(".", 1)[0] != here["python"].rsplit(".", 1)[0]:
            mismatched.append(f"python {built.get('python')} (here {here['python']})")
        if metadata.get("artifact_format") != ARTIFACT_FORMAT:
            raise ModelLoadError(
                f"model {version} has artifact format {metadata.get('artifact_format')}, this code reads format "
                f"{ARTIFACT_FORMAT}; retrain it here (`python -m training train --promote`)"
            )
        if mismatched:
            raise ModelLoadError(
                f"model {version} was built with other library versions: {', '.join(mismatched)}; "
                "retrain it here (`python -m training train`) or install the pinned requirements"
            )
        return metadata

    def load(self, version: str | None = None) -> LoadedModel:
        """Load a version (the live one by default) after checking its hash and library versions."""
        version = version or self.current_version()
        if version is None:
            raise ModelLoadError(
                f"no live model under {self.root}: train one with `make setup` or `python -m training train`"
            )
        metadata = self.verify(version)
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            try:
                artifact = joblib.load(self.root / version / ARTIFACT)
            except InconsistentVersionWarning as exc:
                raise ModelLoadError(f"model {version}: {exc}") from None
            except Exception as exc:  # a corrupt pickle can raise nearly anything
                raise ModelLoadError(f"model {version} could not be loaded: {exc!r}") from None
        if not isinstance(artifact, dict) or "spam" not in artifact:
            raise ModelLoadError(f"model {version}: {ARTIFACT} does not hold a spam model")
        return LoadedModel(version, artifact, metadata)

    def set_current(self, version: str, action: str = "promote", reason: str | None = None, **details) -> None:
        """Make a verified version live and record the change in the history."""
        self.verify(version)
        previous = self.current_version()
        _atomic_write(self.root / CURRENT, version + "\n")
        entry = {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "action": action, "version": version, "previous": previous, "reason": reason,
            "argv": sys.argv[1:], **details,
        }
        torn = False  # after a crash mid-append the last line is torn: the new entry starts on a line of its own
        try:
            with (self.root / HISTORY).open("rb") as handle:
                if handle.seek(0, os.SEEK_END):
                    handle.seek(-1, os.SEEK_END)
                    torn = handle.read(1) != b"\n"
        except FileNotFoundError:
            pass
        with (self.root / HISTORY).open("a", encoding="utf-8") as handle:
            handle.write(("\n" if torn else "") + json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def history(self) -> list[dict]:
        try:
            lines = (self.root / HISTORY).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except ValueError:  # a line torn by a crash mid-append (set_current writes `current` first)
                    warnings.warn(f"{self.root / HISTORY}: skipped a torn line: {line[:80]!r}", stacklevel=2)
        return entries
