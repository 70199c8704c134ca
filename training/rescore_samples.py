"""The articles' thread samples written once per run to a file the local workers read, instead of pickled into
every chunk task.

A chunk of 2,000 rows of a large archive touches up to ~2,000 articles; with their samples (up to
`thread_size + 1` texts of up to `thread_chars` each) inline, a task was ~1 MB of pickled texts for 2,000 short
comments, pickled by the main process and unpickled by a worker for every chunk, although a worker builds an
article's context once and keeps it (`rescore_batch.ThreadContexts`). Now the main process writes every sample to
`<output>.rescore/samples.pickle` after the first pass and a task carries, per article, a `SampleRef`: where the
sample is in the file, its size, the hash that keys the worker's cached context, and which of the chunk's rows
are in the sample (and whether their sample text is cut). A worker reads a sample (one `os.pread`) only for a
context it has not built yet, or for a row whose own sample text was cut (it gets its own thread).
The Dask engine keeps the samples inline: its workers may be on other machines.
"""

from __future__ import annotations

import os
import pickle
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SampleRef:
    offset: int
    length: int
    size: int  # texts in the sample
    key: int  # hash(tuple(sample)): with the article's id, title and body, keys the worker's cached context
    inside: dict  # {line: the row's text is its sample text (not cut)} for the chunk's rows that are in the sample


@dataclass(frozen=True)
class SampleFile:
    path: str
    token: str  # a new one each time the file is written: a worker never reads a stale file descriptor


class SampleIndex:
    """The main process's side: each article's place in the samples file and the lines of its sample.

    Written either at once (`SampleIndex(samples, path)`) or while the first pass reads the input
    (`SampleIndex(None, path)`, `add` for each article whose sample is complete, `finish` with the rest): then the
    main process never holds every sample's texts (at 1,000,000 rows ~420,000 texts, ~100 MiB)."""

    def __init__(self, samples: dict | None, path: Path, consume: bool = False):
        """`consume`: empty `samples` while writing them, so their texts and the index are never all in memory."""
        self.file = SampleFile(str(path), uuid.uuid4().hex)
        self.entries: dict = {}  # article id -> (offset, length, size, key, the sample's lines (array of int64))
        self._path, self._offset = Path(path), 0
        self._temporary = Path(f"{path}.{self.file.token}.tmp")
        self._out = open(self._temporary, "wb")
        if samples is not None:
            self.finish(samples, consume)

    def add(self, article, sample: list) -> None:
        """Write one article's sample [(line, text), ...] (its last: a sample is written once)."""
        data = pickle.dumps(sample, protocol=pickle.HIGHEST_PROTOCOL)
        self._out.write(data)
        self.entries[article] = (self._offset, len(data), len(sample), hash(tuple(sample)),
                                 array("q", sorted(line for line, _ in sample)))
        self._offset += len(data)

    def finish(self, samples: dict, consume: bool = False) -> None:
        """Write the remaining samples and put the file in place."""
        items = _draining(samples) if consume else samples.items()
        for article, sample in items:
            self.add(article, sample)
        self._out.close()
        os.replace(self._temporary, self._path)

    def refs(self, rows: list, thread_chars: int) -> dict:
        """{article id: SampleRef} for the articles of a chunk's rows (line, id, text, article id, ...)."""
        inside: dict = {}
        for row in rows:
            article = row[3]
            if article is None:
                continue
            entry = self.entries.get(article)
            if entry is None:
                continue
            lines = inside.get(article)
            if lines is None:
                lines = inside[article] = {}
            sampled = entry[4]  # sorted: most rows come after their article's sample (its first texts)
            if sampled and row[0] <= sampled[-1] and row[0] in sampled:
                lines[row[0]] = len(row[2]) <= thread_chars
        return {article: SampleRef(*self.entries[article][:4], lines) for article, lines in inside.items()}


def _draining(samples: dict):
    while samples:
        yield samples.popitem()


_OPEN: dict = {}  # token -> file descriptor (the current run's file only)


def read_sample(file: SampleFile, ref: SampleRef) -> list:
    """The article's sample, [(line, text), ...], from the samples file."""
    fd = _OPEN.get(file.token)
    if fd is None:
        for old in _OPEN.values():
            os.close(old)
        _OPEN.clear()
        fd = _OPEN[file.token] = os.open(file.path, os.O_RDONLY)
    data = os.pread(fd, ref.length, ref.offset)
    if len(data) != ref.length:
        raise OSError(f"{file.path}: short read of a thread sample ({len(data)} of {ref.length} bytes)")
    return pickle.loads(data)


class InlineSample:
    """A sample given in the task itself (the Dask engine, tests): the same questions as a `StoredSample`."""

    def __init__(self, sample):
        self.pairs = sample
        self.by_line = dict(sample)
        self.size = len(sample)
        self._key = None

    @property
    def key(self) -> int:
        if self._key is None:
            self._key = hash(tuple(self.pairs))
        return self._key

    def position(self, line: int, text: str):
        """None: the row is not in the sample; True: it is, with its whole text; False: it is, cut."""
        own = self.by_line.get(line)
        return None if own is None else own == text

    def load(self) -> list:
        return self.pairs


class StoredSample:
    def __init__(self, ref: SampleRef, file: SampleFile):
        self.ref, self.file = ref, file
        self.size, self.key = ref.size, ref.key

    def position(self, line: int, text: str):
        return self.ref.inside.get(line)

    def load(self) -> list:
        return read_sample(self.file, self.ref)


def sample_of(value, file: SampleFile | None):
    return StoredSample(value, file) if isinstance(value, SampleRef) else InlineSample(value)
