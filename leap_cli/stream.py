"""JSONL in and out for every tool: bad lines, pass-through errors, filters, order, the summary.

Every input line leads to exactly one output line (or, with ``--on-error skip``, one reported
error): nothing is dropped silently. Records that already carry ``error`` pass through untouched.
"""
from __future__ import annotations

import collections
import io
import json
import os
import sys
from typing import Callable, Iterable, Iterator

from .records import ClipError, error_record


class StreamOptions:
    """What the shared option bundle (options.stage_options) collects.

    A plain class, not a dataclass: every tool builds one at start-up, and generating dataclass
    code costs milliseconds each run.
    """

    def __init__(self, inputs=("-",), output=None, resume=False, on_error="record", errors=None,
                 shard=None, ids=None, quiet=False, verbose=False, tool="leap"):
        self.inputs: tuple[str, ...] = inputs
        self.output: str | None = output
        self.resume, self.on_error, self.errors = resume, on_error, errors
        self.shard: tuple[int, int] | None = shard
        self.ids: frozenset[str] | None = ids
        self.quiet, self.verbose, self.tool = quiet, verbose, tool


class Line:
    """One input line: the parsed record, or the reason it could not be read (with, when the
    line named its clip, a record holding just that id)."""

    __slots__ = ("file", "line", "record", "problem")

    def __init__(self, file: str, line: int, record: dict | None = None, problem: str | None = None):
        self.file, self.line, self.record, self.problem = file, line, record, problem


class Counts:
    __slots__ = ("read", "written", "errors", "skipped", "passed")

    def __init__(self):
        self.read = self.written = self.errors = self.skipped = self.passed = 0


def open_text(path: str):
    """A text stream for a path, '-' (stdin) or a ``.gz`` file.

    utf-8-sig: a byte-order mark (files saved by Excel or Notepad) is dropped, not read as part
    of the first column's name or the first line's JSON.
    """
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace")
    if path.endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def parse_line(text: str, file: str, number: int) -> Line:
    """A line of JSONL -> Line with a record, or with the reason it is not a clip record."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return Line(file, number, problem=f"not JSON ({e.msg} at column {e.colno})")
    if not isinstance(value, dict):
        return Line(file, number, problem=f"not a JSON object (a {type(value).__name__})")
    if not isinstance(value.get("id"), str) or not value["id"]:
        if "error" in value:  # an error record from an earlier stage: keep it
            return Line(file, number, record=value)
        return Line(file, number, problem="no 'id' (a clip record needs a string id)")
    return Line(file, number, record=value)


def open_input(path: str):
    """open_text, with a file that cannot be opened reported as one clear error."""
    try:
        return open_text(path)
    except OSError as e:
        raise ClipError(f"{path}: cannot open ({e.strerror})") from None


def read_lines(paths: Iterable[str]) -> Iterator[Line]:
    """Every non-blank line of every input, parsed."""
    for path in paths:
        name = "<stdin>" if path == "-" else path
        with open_input(path) as stream:
            for number, text in enumerate(stream, 1):
                if text.strip():
                    yield parse_line(text, name, number)


def shard_of(clip_id: str, n: int) -> int:
    """DESIGN.md section 3: first 8 hex digits of sha1(id) as an integer, modulo N."""
    import hashlib

    return int(hashlib.sha1(clip_id.encode("utf-8")).hexdigest()[:8], 16) % n


def selected(line: Line, opts: StreamOptions, done: set) -> bool:
    """Whether this process handles the line (--shard, --ids, --resume)."""
    rid = line.record.get("id") if line.record else None
    if opts.shard:
        k, n = opts.shard
        # A line without an id still belongs to exactly one shard: the one its line number picks.
        if (shard_of(rid, n) if rid else line.line % n) != k:
            return False
    if opts.ids is not None and rid not in opts.ids:
        return False
    if rid:
        return rid not in done
    return not (line.problem and (line.file, line.line) in done)


def done_ids(path: str) -> set:
    """What an output file already holds: its ids, and (file, line) of its unreadable-line errors.

    Read line by line (a resumed output can be larger than memory). A torn last line (a killed
    run) is cut off; a ``.gz`` file cut short by a kill is rewritten with its complete lines, so
    the records appended after it stay readable.
    """
    if not os.path.exists(path):
        return set()
    done: set = set()
    if not path.endswith(".gz"):
        with open(path, "rb+") as f:
            end = 0
            for raw in f:
                if not raw.endswith(b"\n"):
                    f.truncate(end)
                    break
                end += len(raw)
                _note_done(raw, done)
        return done
    if not _gzip_lines(path, lambda raw: _note_done(raw, done)):
        import gzip

        with gzip.open(path + ".tmp", "wb") as out:
            _gzip_lines(path, out.write)
        os.replace(path + ".tmp", path)
    return done


def _gzip_lines(path: str, each: Callable[[bytes], object]) -> bool:
    """Call ``each`` on every complete line of a gzip file; False when its end is torn."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    return False
                each(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        return False
    return True


def _note_done(raw: bytes, done: set) -> None:
    try:
        record = json.loads(raw)
        rid = record.get("id")
        where = record["error"] if rid is None else None
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        return
    if rid:
        done.add(rid)
    elif isinstance(where, dict) and "file" in where:
        done.add((where["file"], where.get("line")))


# One encoder for every line; records parsed from JSON cannot be circular, so no check for it.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class Writer:
    """Writes output records and error reports, keeps the counts, applies --on-error."""

    def __init__(self, opts: StreamOptions, stage: str):
        self.opts, self.stage, self.counts = opts, stage, Counts()
        if opts.output:
            mode = "a" if opts.resume else "w"
            if opts.output.endswith(".gz"):
                import gzip

                self.out = gzip.open(opts.output, mode + "t", encoding="utf-8")
            else:
                self.out = open(opts.output, mode, encoding="utf-8")
        else:
            self.out = sys.stdout
        self.err_file = open(opts.errors, "a" if opts.resume else "w", encoding="utf-8") \
            if opts.errors else None

    def write(self, record: dict) -> None:
        self.out.write(_encode(record) + "\n")
        self.counts.written += 1

    def error(self, record: dict) -> None:
        """An error record: written, skipped or fatal per --on-error; always reported."""
        self.counts.errors += 1
        err = record["error"]
        where = f"{err['file']}:{err['line']}: " if "file" in err else f"{record.get('id')}: "
        if self.err_file:
            self.err_file.write(_encode(record) + "\n")
            self.err_file.flush()
        if self.opts.on_error == "record":
            if self.opts.verbose:
                log(self.opts, f"error: {where}{err['message']}")
            self.write(record)
            return
        log(self.opts, f"error: {where}{err['message']}", force=True)
        if self.opts.on_error == "fail":
            raise SystemExit(1)
        self.counts.skipped += 1

    def close(self) -> None:
        self.out.flush()
        if self.out is not sys.stdout:
            self.out.close()
        if self.err_file:
            self.err_file.close()

    def summary(self) -> str:
        c = self.counts
        text = f"{self.opts.tool}: {c.read} in, {c.written} out, {c.errors} errors"
        if c.skipped:
            text += f" ({c.skipped} skipped)"
        if c.passed:
            text += f", {c.passed} earlier errors passed through"
        return text


def log(opts: StreamOptions, message: str, force: bool = False) -> None:
    """A line on stderr (not under -q unless forced)."""
    if force or not opts.quiet:
        print(message, file=sys.stderr, flush=True)


def progress(opts: StreamOptions, iterable, **kw):
    """tqdm on stderr, only on a terminal and not under -q."""
    if opts.quiet or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, unit="clip", leave=False, **kw)


def resumed(opts: StreamOptions) -> set:
    """What a --resume run skips: what its output (and --errors file) already hold.

    Read, repairing a torn end, before anything is appended."""
    done = done_ids(opts.output) if (opts.resume and opts.output) else set()
    if opts.resume and opts.errors:  # with --on-error skip, the clips already reported are only there
        done |= done_ids(opts.errors)
    return done


def run_many(opts: StreamOptions, stage: str,
             transform: Callable[[Iterator[dict]], Iterator[dict | ClipError]],
             lines: Iterable[Line] | None = None) -> int:
    """Feed the clip records to ``transform`` (one result per record, in order); write everything.

    Lines that are not records, and records that already carry an error, never reach the
    transform; they are written in their place in the input order. Returns the exit status.
    """
    done = resumed(opts)
    writer = Writer(opts, stage)
    pending: collections.deque = collections.deque()  # (position, record, is_new_error) awaiting their turn
    work: collections.deque = collections.deque()  # records handed to the transform, in order

    unseen = set(opts.ids or ())  # --ids that no input line has: a typo must not look like success

    def feed() -> Iterator[dict]:
        for position, line in enumerate(progress(opts, lines if lines is not None else read_lines(opts.inputs))):
            if unseen and line.record:
                unseen.discard(line.record.get("id"))
            if not selected(line, opts, done):
                continue
            writer.counts.read += 1
            if line.problem:
                bad = error_record(line.record, stage, line.problem, file=line.file, line=line.line)
                pending.append((position, bad, True))
            elif "error" in line.record:
                pending.append((position, line.record, False))
                writer.counts.passed += 1
            else:
                work.append(position)
                yield line.record

    def flush(before: float) -> None:
        while pending and pending[0][0] < before:
            _, rec, new = pending.popleft()
            writer.error(rec) if new else writer.write(rec)

    try:
        records = feed()
        originals = _remember(records)
        for result in transform(originals.stream()):
            position, original = work.popleft(), originals.pop()
            flush(position)
            if isinstance(result, BaseException):
                if opts.verbose and result.__traceback__ and not isinstance(result, ClipError):
                    import traceback

                    traceback.print_exception(result, file=sys.stderr)
                writer.error(error_record(original, stage, _message(result)))
            else:
                writer.write(result)
        flush(float("inf"))
    finally:
        writer.close()
    if unseen:
        log(opts, f"{opts.tool}: --ids not in the input: {', '.join(sorted(unseen))}", force=True)
    if not opts.quiet or writer.counts.errors:
        log(opts, writer.summary(), force=True)
    return 0


class _remember:
    """Keeps the records handed to a transform so an error result can keep its record's id."""

    def __init__(self, records: Iterator[dict]):
        self.records, self.queue = records, collections.deque()

    def stream(self) -> Iterator[dict]:
        for r in self.records:
            self.queue.append(r)
            yield r

    def pop(self) -> dict:
        return self.queue.popleft()


def _message(exc: BaseException) -> str:
    if isinstance(exc, ClipError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def guarded(fn: Callable[[dict], dict]) -> Callable[[dict], dict | BaseException]:
    """fn, with any exception returned instead of raised (one bad clip never stops the run)."""

    def call(record: dict):
        try:
            return fn(record)
        except (KeyboardInterrupt, SystemExit, BrokenPipeError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - any failure of one clip becomes its error record
            return e

    return call


def run(opts: StreamOptions, stage: str, fn: Callable[[dict], dict],
        lines: Iterable[Line] | None = None) -> int:
    """Map fn over the clip records (see run_many)."""
    safe = guarded(fn)
    return run_many(opts, stage, lambda records: (safe(r) for r in records), lines)
