"""JSONL in and out for every tool: bad lines, pass-through errors, filters, order, the summary.

Every input line leads to exactly one output line (or, with ``--on-error skip``, one reported
error): nothing is dropped silently. Records that already carry ``error`` pass through untouched.
"""
from __future__ import annotations

import collections
import functools
import io
import json
import os
import re
import sys
import zlib
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
    __slots__ = ("read", "written", "errors", "retryable", "skipped", "passed")

    def __init__(self):
        self.read = self.written = self.errors = self.retryable = self.skipped = self.passed = 0


def open_text(path: str):
    """A text stream for a path, '-' (stdin) or a ``.gz`` file.

    utf-8-sig: a byte-order mark (files saved by Excel or Notepad) is dropped, not read as part
    of the first column's name or the first line's JSON. Lines end at LF only: a CR inside a
    line is JSON whitespace, not a line break (one line in, one record out).
    """
    kw = {"encoding": "utf-8-sig", "errors": "replace", "newline": "\n"}
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, **kw)
    if path.endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", **kw)
    return open(path, **kw)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (strict JSON has no NaN or Infinity)")


_decode = json.JSONDecoder(parse_constant=_no_constant).decode
# A \ud800-\udfff escape: legal JSON, but unless it pairs up, not text any file can hold.
_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def decode(text: str):
    """One line of JSON -> its value; ValueError saying, in words, why it is not readable."""
    try:
        value = _decode(text)
        if "\\u" in text and _SURROGATE.search(text):
            _encode(value).encode("utf-8")
        return value
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("not a clip record (nested too deeply)") from None
    except UnicodeEncodeError as e:
        bad = e.object[e.start:e.end].encode("utf-8", "backslashreplace").decode()
        raise ValueError(f"not text: a lone surrogate escape ({bad}) is no Unicode character") from None
    except ValueError as e:  # a number over 4300 digits, NaN/Infinity
        raise ValueError(f"not JSON ({_short(str(e))})") from None


def parse_line(text: str, file: str, number: int) -> Line:
    """A line of JSONL -> Line with a record, or with the reason it is not a clip record."""
    try:
        value = decode(text)
    except ValueError as e:
        return Line(file, number, problem=str(e))
    if not isinstance(value, dict):
        return Line(file, number, problem=f"not a JSON object (a {type(value).__name__})")
    if not isinstance(value.get("id"), str) or not value["id"]:
        if "error" in value:  # an error record from an earlier stage: keep it
            return Line(file, number, record=value)
        return Line(file, number, problem="no 'id' (a clip record needs a string id)")
    return Line(file, number, record=value)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def open_input(path: str):
    """open_text, with a file that cannot be opened reported as one clear error."""
    try:
        return open_text(path)
    except OSError as e:
        raise ClipError(f"{path}: cannot open ({e.strerror})") from None


# Blank: nothing but JSON whitespace. A line of a form feed, \x1c-\x1f or NBSP (which
# str.strip() would also take for blank) is reported as not JSON, never dropped.
_BLANK = re.compile(r"[ \t\r\n]*")


def read_lines(paths: Iterable[str]) -> Iterator[Line]:
    """Every line of every input that is not blank, parsed; a file that ends early (a torn
    .gz, a read error) is one more Line saying so, and the next input is read."""
    for path in paths:
        name = "<stdin>" if path == "-" else path
        with open_input(path) as stream:
            number = 0
            try:
                for number, text in enumerate(stream, 1):
                    if not _BLANK.fullmatch(text):
                        yield parse_line(text, name, number)
            except (EOFError, OSError, zlib.error) as e:
                yield Line(name, number + 1, problem=f"cannot read on from line {number + 1}: {unreadable(e)}")


def unreadable(e: BaseException) -> str:
    """Why a file cannot be read on, in words (not the library's exception)."""
    if isinstance(e, EOFError):
        return "the compressed file is cut short (truncated .gz: a killed or partial copy)"
    if type(e).__name__ in ("BadGzipFile", "error"):
        return f"not valid gzip data ({e})"
    return getattr(e, "strerror", None) or str(e)


def shard_of(clip_id: str, n: int) -> int:
    """DESIGN.md section 3: first 8 hex digits of sha1(id) as an integer, modulo N."""
    import hashlib

    return int(hashlib.sha1(clip_id.encode("utf-8")).hexdigest()[:8], 16) % n


def selected(line: Line, opts: StreamOptions, done: "Done | None" = None) -> bool:
    """Whether this process handles the line (--shard, --ids, --resume)."""
    rid = line.record.get("id") if line.record else None
    if opts.shard:
        k, n = opts.shard
        # A line without an id still belongs to exactly one shard: the one its line number picks.
        if (shard_of(rid, n) if rid else line.line % n) != k:
            return False
    if opts.ids is not None and rid not in opts.ids:
        return False
    return not done or not done.take(line)


@functools.lru_cache(maxsize=1024)
def resolved(file: str) -> str:
    """The one name of an input file (./x.jsonl and x.jsonl are one file; <stdin> is itself)."""
    return file if file == "<stdin>" else os.path.realpath(file)


class Done:
    """What an existing output holds (--resume): how many records of each id, and the (resolved
    file, line) of its unreadable-line errors. Each record accounts for one input line with that
    id, so an id given twice is handled the same with and without --resume."""

    __slots__ = ("ids", "lines")

    def __init__(self):
        self.ids: collections.Counter = collections.Counter()
        self.lines: set = set()

    def __contains__(self, rid) -> bool:
        return self.ids.get(rid, 0) > 0

    def __ior__(self, other: "Done") -> "Done":
        self.ids.update(other.ids)
        self.lines |= other.lines
        return self

    def add(self, key) -> None:
        if isinstance(key, tuple):
            self.lines.add(key)
        else:
            self.ids[key] += 1

    def use(self, key) -> bool:
        """Whether ``key`` (a done_key) is done; one record of an id is then used up."""
        if isinstance(key, tuple):
            return key in self.lines
        if self.ids.get(key, 0) > 0:
            self.ids[key] -= 1
            return True
        return False

    def take(self, line: Line) -> bool:
        """Whether the line is already done (see use)."""
        rid = line.record.get("id") if line.record else None
        if rid:
            return self.use(rid)
        return bool(line.problem) and (resolved(line.file), line.line) in self.lines


RETRY = "retry"  # done_key of a retryable error: --resume processes its clip again


def done_key(raw: bytes, stage: str | None = None):
    """The key an output line marks done: its id, or (resolved file, line) for an unreadable
    input line; RETRY for a retryable error of ``stage``; None for a line that marks nothing."""
    try:
        record = json.loads(raw)
        rid = record.get("id")
        err = record.get("error")
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(err, dict) and err.get("retryable") is True and stage and err.get("stage") == stage:
        return RETRY
    if isinstance(rid, str) and rid:
        return rid
    if isinstance(err, dict) and isinstance(err.get("file"), str) and isinstance(err.get("line"), int):
        return resolved(err["file"]), err["line"]
    return None


def done_ids(path: str, stage: str | None = None, keep: Callable[[object], bool] | None = None) -> Done:
    """What an output file already holds (see Done), repaired for appending.

    Read line by line (a resumed output can be larger than memory). A torn last line (a killed
    run) is cut off; a ``.gz`` file cut short by a kill is rewritten with its complete lines, so
    the records appended after it stay readable. The lines whose done_key ``keep`` refuses (by
    default: the retryable errors of ``stage``) are taken out of the file, to be written again.
    """
    done = Done()
    if not os.path.exists(path):
        return done
    keep = keep or (lambda key: key is not RETRY)
    kept = bytearray()  # per complete line: whether it stays (keep may count, so it is asked once)

    def note(raw: bytes) -> None:
        key = done_key(raw, stage)
        kept.append(keep(key))
        if kept[-1] and key is not None and key is not RETRY:
            done.add(key)

    if path.endswith(".gz"):
        _check_gzip(path)
        whole = _gzip_lines(path, note)
    else:
        whole = _plain_lines(path, note)
    if not whole or not all(kept):
        _rewrite(path, iter(kept).__next__)
    return done


def _plain_lines(path: str, each: Callable[[bytes], object]) -> bool:
    """Call ``each`` on every complete line; a torn last line is cut off in place."""
    with open(path, "rb+") as f:
        end = 0
        for raw in f:
            if not raw.endswith(b"\n"):
                f.truncate(end)
                break
            end += len(raw)
            each(raw)
    return True


def _check_gzip(path: str) -> None:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic and magic != b"\x1f\x8b":
        raise ClipError(f"{path}: --resume: not a gzip file although its name ends in .gz; "
                        "it is left as it is (rename it, or resume into a file without .gz)")


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


def _rewrite(path: str, keep: Callable[[], bool]) -> None:
    """Replace the file by its complete lines, each kept when ``keep()`` says so (atomically)."""
    tmp = path + ".tmp"
    with _open_out(tmp, "wb", gz=path.endswith(".gz")) as out:
        _each_line(path, lambda raw: keep() and out.write(raw))
    os.replace(tmp, path)


def _each_line(path: str, each: Callable[[bytes], object]) -> None:
    if path.endswith(".gz"):
        _gzip_lines(path, each)
    else:
        with open(path, "rb") as f:
            for raw in f:
                if raw.endswith(b"\n"):
                    each(raw)


def _open_out(path: str, mode: str, gz: bool | None = None):
    """A file to write records to (a ``.gz`` name compresses); mode 'w', 'a' or with 'b'."""
    if path.endswith(".gz") if gz is None else gz:
        import gzip

        return gzip.open(path, mode if "b" in mode else mode + "t", encoding=None if "b" in mode else "utf-8")
    return open(path, mode, encoding=None if "b" in mode else "utf-8")


# One encoder for every line; records parsed from JSON cannot be circular, so no check for it.
# allow_nan=False: what is written is strict JSON (jq and other languages read it).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False,
                           allow_nan=False).encode


def encode_line(record: dict, stage: str) -> tuple[str, bool]:
    """(one JSONL line for the record, True); or, for a record that cannot be written as strict
    UTF-8 JSON (NaN, a lone surrogate, nesting too deep), (the line of an error record that keeps
    what can be kept of its id, False)."""
    try:
        text = _encode(record)
        if not text.isascii():
            text.encode("utf-8")  # a lone surrogate cannot be
        return text + "\n", True
    except (ValueError, TypeError, RecursionError) as e:  # UnicodeEncodeError is a ValueError
        reason = "a lone surrogate in its text" if isinstance(e, UnicodeEncodeError) else \
            "nested too deeply" if isinstance(e, RecursionError) else _short(str(e))
    rid = record.get("id") if isinstance(record, dict) else None
    if not (isinstance(rid, str) and rid.isprintable() and _clean(rid)):
        rid = None
    stub = {"schema": record.get("schema", 1) if isinstance(record.get("schema"), int) else 1, "id": rid,
            "error": {"stage": stage, "message": f"the record cannot be written as strict JSON: {reason}"}}
    return _encode(stub) + "\n", False


def _clean(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class Stop(Exception):
    """--on-error fail: the first error ends the run (status 1)."""


class Writer:
    """Writes output records and error reports, keeps the counts, applies --on-error."""

    def __init__(self, opts: StreamOptions, stage: str, observe: Callable[[dict], object] | None = None):
        self.opts, self.stage, self.counts, self.observe = opts, stage, Counts(), observe
        mode = "a" if opts.resume else "w"
        self.out = _open_out(opts.output, mode) if opts.output else sys.stdout
        self.err_file = _open_out(opts.errors, mode) if opts.errors else None

    def write(self, record: dict) -> None:
        line, ok = encode_line(record, self.stage)
        if not ok:
            return self.error(json.loads(line))
        self.out.write(line)
        self.counts.written += 1
        if self.observe is not None:
            self.observe(record)

    def error(self, record: dict) -> None:
        """An error record: written, skipped or fatal per --on-error; always reported."""
        line, ok = encode_line(record, self.stage)
        record = record if ok else json.loads(line)
        self.counts.errors += 1
        if self.observe is not None:  # written, skipped or fatal: accounted for all the same
            self.observe(record)
        err = record["error"]
        self.counts.retryable += err.get("retryable") is True
        where = f"{err['file']}:{err['line']}: " if "file" in err else f"{record.get('id')}: "
        if self.err_file:
            self.err_file.write(line)
            self.err_file.flush()
        if self.opts.on_error == "record":
            if self.opts.verbose:
                log(self.opts, f"error: {where}{err['message']}")
            self.out.write(line)
            self.counts.written += 1
            return
        log(self.opts, f"error: {where}{err['message']}", force=True)
        if self.opts.on_error == "fail":
            raise Stop
        self.counts.skipped += 1

    def close(self) -> None:
        try:
            self.out.flush()
        finally:
            if self.out is not sys.stdout:
                self.out.close()
            if self.err_file:
                self.err_file.close()

    def summary(self) -> str:
        c = self.counts
        text = f"{self.opts.tool}: {c.read} in, {c.written} out, {c.errors} errors"
        if c.retryable:
            text += f" ({c.retryable} retryable: the same command with --resume tries them again)"
        if c.skipped:
            text += f" ({c.skipped} skipped)"
        if c.passed:
            text += f", {c.passed} earlier errors passed through"
        return text

    def status(self) -> int:
        """The exit status the counts call for: 1 when --on-error fail met an error, else 0
        (with record or skip every line is accounted for)."""
        return 1 if self.opts.on_error == "fail" and self.counts.errors else 0


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


def resumed(opts: StreamOptions, stage: str | None = None) -> Done:
    """What a --resume run skips, read (and repaired) before anything is appended.

    Done is what -o holds, less the retryable errors of ``stage`` (taken out, to be tried
    again). With --on-error skip the errors reported are only in the --errors file: what it
    holds is done too. Otherwise the --errors file is a copy, trimmed to what -o holds: a killed
    run may have written an error there (flushed at once) that never reached the buffered -o.
    """
    if not (opts.resume and opts.output):
        return Done()
    done = done_ids(opts.output, stage)
    if opts.errors and opts.on_error == "skip":
        done |= done_ids(opts.errors, stage)
    elif opts.errors:
        copies = Done()
        copies |= done
        done_ids(opts.errors, stage, keep=lambda key: key is not None and key is not RETRY and copies.use(key))
    return done


def held_files(opts: StreamOptions) -> list[str]:
    """The files whose records a --resume run takes as done (see resumed)."""
    return [opts.output] + ([opts.errors] if opts.errors and opts.on_error == "skip" else [])


def held(opts: StreamOptions, stage: str) -> Iterator[dict]:
    """The records a --resume run finds already accounted for (read after ``resumed`` repaired
    the files): those of -o, and with --on-error skip those of the --errors file, the only
    home of skipped errors. A line that is not a record comes as the error leap would write."""
    for line in read_lines(p for p in held_files(opts) if os.path.exists(p)):
        yield line.record if line.record is not None else \
            error_record(None, stage, line.problem, file=line.file, line=line.line)


def run_many(opts: StreamOptions, stage: str,
             transform: Callable[[Iterator[dict]], Iterator[dict | ClipError]],
             lines: Iterable[Line] | None = None, observe: Callable[[dict], object] | None = None) -> int:
    """Feed the clip records to ``transform`` (one result per record, in order); write everything.

    Lines that are not records, and records that already carry an error, never reach the
    transform; they are written in their place in the input order. ``observe`` is called with
    every record the run accounts for, in output order: on --resume first those ``held``
    already, then each one written or reported as an error (skipped and fatal ones too).
    Returns the exit status.
    """
    done = resumed(opts, stage)
    if observe is not None and opts.resume:
        for record in held(opts, stage):
            observe(record)
    writer = Writer(opts, stage, observe)
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

    originals = _remember(feed())
    results = transform(originals.stream())
    try:
        for result in results:
            position, original = work.popleft(), originals.pop()
            flush(position)
            if isinstance(result, BaseException):
                if opts.verbose and result.__traceback__ and not isinstance(result, ClipError):
                    import traceback

                    traceback.print_exception(result, file=sys.stderr)
                writer.error(error_record(original, stage, _message(result),
                                          retryable=getattr(result, "retryable", False) is True))
            else:
                writer.write(result)
        flush(float("inf"))
    except Stop:
        pass
    finally:
        getattr(results, "close", lambda: None)()
        writer.close()
    if unseen:
        log(opts, f"{opts.tool}: --ids not in the input: {', '.join(sorted(unseen))}", force=True)
    if not opts.quiet or writer.counts.errors:
        log(opts, writer.summary(), force=True)
    return writer.status()


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
        lines: Iterable[Line] | None = None, observe: Callable[[dict], object] | None = None) -> int:
    """Map fn over the clip records (see run_many)."""
    safe = guarded(fn)
    return run_many(opts, stage, lambda records: (safe(r) for r in records), lines, observe)
