"""The click pieces every tool shares: the command class and the option bundles.

Every stage gets the same flags from ``stage_options``: input files, -o, --resume, --on-error,
--errors, --shard, --ids, -q, -v. Commands stay thin: they build options and call a library
function through ``leap_cli.stream``.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading

import click

from .records import ClipError


def _quiet_exit(code: int) -> None:
    # Python docs, "Note on SIGPIPE": point stdout at devnull so the interpreter's final flush
    # cannot raise again, then exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    sys.exit(code)


def _catch_ctrl_c(handler):
    """Install a SIGINT handler (main thread only); returns the one it replaces."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler) if handler is not None else None


class _Quiet:
    """Broken pipes end quietly, Ctrl-C ends with 130, failures print one line (traceback with -v)."""

    def invoke(self, ctx):
        outer = _catch_ctrl_c(signal.default_int_handler)
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_exit(1)
        except KeyboardInterrupt:
            _catch_ctrl_c(outer)  # a second Ctrl-C while ending: no traceback either
            sys.stderr.write("\n")
            _quiet_exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the one place a tool turns a crash into a message
            if ctx.meta.get("leap.verbose"):
                import traceback

                traceback.print_exc()
            message = str(e) if isinstance(e, ClipError) else f"{type(e).__name__}: {e}"
            raise click.ClickException(message) from None
        finally:
            _catch_ctrl_c(outer)  # after the command (exit, interpreter shutdown): as before it


class Tool(_Quiet, click.Command):
    """A LEAP console script."""


class ToolGroup(_Quiet, click.Group):
    """A LEAP console script with sub-commands (leap-train fit|predict)."""


def _shard(ctx, param, value):
    if value is None:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter("expected K/N, e.g. 0/8") from None
    if not 0 <= k < n:
        raise click.BadParameter(f"need 0 <= K < N, got {value}")
    return k, n


def _ids(ctx, param, value):
    if not value:
        return None
    return frozenset(i.strip() for v in value for i in v.split(",") if i.strip())


def stage_options(fn):
    """The shared I/O options; the command receives them as one ``opts`` (StreamOptions)."""

    @click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False), metavar="[FILE]...")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
                  help="Write records here instead of stdout (.gz compresses).")
    @click.option("--resume", is_flag=True,
                  help="With -o: skip the clips the output file already holds and append the rest "
                  "(retryable errors are tried again).")
    @click.option("--on-error", type=click.Choice(["record", "skip", "fail"]), default="record",
                  show_default=True, help="A bad clip becomes an error record, is skipped (and "
                  "reported), or stops the run with status 1.")
    @click.option("--errors", type=click.Path(dir_okay=False, writable=True),
                  help="Also write every error record to this JSONL file.")
    @click.option("--shard", callback=_shard, metavar="K/N",
                  help="Only the clips whose id hashes to K modulo N (stable, no overlap, no gap).")
    @click.option("--ids", multiple=True, callback=_ids, metavar="ID[,ID...]",
                  help="Only these clip ids (repeatable or comma-separated).")
    @click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
    @click.option("-v", "--verbose", is_flag=True, help="Log each error; tracebacks for crashes.")
    @functools.wraps(fn)
    def wrapper(*args, inputs, output, resume, on_error, errors, shard, ids, quiet, verbose, **kw):
        if resume and not output:
            raise click.UsageError("--resume needs -o FILE (the file to continue)")
        if inputs.count("-") > 1:
            raise click.UsageError("'-' (stdin) can be given once")
        for flag, path in (("-o", output), ("--errors", errors)):
            if path and any(i != "-" and os.path.realpath(i) == os.path.realpath(path) for i in inputs):
                # Opening it would empty the input before a line of it is read.
                raise click.UsageError(f"{flag} {path} is also an input: write to another file")
        if output and errors and os.path.realpath(output) == os.path.realpath(errors):
            raise click.UsageError(f"--errors {errors} is the -o file: give the error records their own file")
        from .stream import StreamOptions  # not needed for --help: keeps start-up short

        ctx = click.get_current_context()
        ctx.meta["leap.verbose"] = verbose
        tool = ctx.find_root().info_name or "leap"
        opts = StreamOptions(inputs=inputs or ("-",), output=output, resume=resume,
                             on_error=on_error, errors=errors, shard=shard, ids=ids,
                             quiet=quiet, verbose=verbose, tool=tool)
        return fn(*args, opts=opts, **kw)

    return wrapper


def require_option(fn):
    """--require: missing evidence becomes an error (the paper skipped clips without SLAM)."""
    return click.option("--require", is_flag=True,
                        help="Treat missing evidence for a clip as an error, not as an empty result.")(fn)


def finish(code: int) -> None:
    """End a command with the stream's exit status."""
    click.get_current_context().exit(code)


def one_source(required: bool = True, **flags) -> str | None:
    """The name of the one source flag given (``--visor``...), else a usage error naming them all.

    Keyword names are flag names without dashes (``hoa_raw`` is ``--hoa-raw``); values are what
    the user gave (None when absent).
    """
    names = ["--" + k.replace("_", "-") for k in flags]
    given = [n for n, v in zip(names, flags.values()) if v]
    if len(given) > 1 or (required and not given):
        raise click.UsageError(f"give {'exactly' if required else 'at most'} one of {', '.join(names)}"
                               + (f" (got {' and '.join(given)})" if given else ""))
    return given[0] if given else None


class Rate(click.ParamType):
    """--fps: frames per second, or 'native' for every frame (None)."""

    name = "N|native"

    def convert(self, value, param, ctx):
        if value is None or str(value).lower() == "native":
            return None
        try:
            fps = float(value)
        except ValueError:
            fps = 0.0
        if not fps > 0:
            self.fail("--fps must be a positive number or 'native'", param, ctx)
        return fps


def need_module(module: str, extra: str, flag: str) -> None:
    """A one-line error naming the pip extra when an optional module a flag needs is absent."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise click.ClickException(f"{flag} needs {module}: pip install 'leap-cli[{extra}]'") from None
