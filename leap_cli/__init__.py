"""LEAP: video-grounded action programs for egocentric video, as Unix filters over JSONL."""

__version__ = "0.1.0"


def _interrupted(signum, frame):  # pragma: no cover - runs in a process being interrupted
    import os

    os.write(2, b"\n")
    os._exit(130)


def _exit_on_ctrl_c() -> None:
    """In a console script, Ctrl-C before the command runs (during the start-up imports) ends the
    process with 130 at once, without a traceback; the command itself turns it into a
    KeyboardInterrupt again (options.Tool) so that its files are closed whole."""
    import signal  # first: the sooner the handler is in place, the smaller the window
    import sys

    if sys.argv and sys.argv[0].rpartition("/")[2].startswith("leap-"):
        try:
            signal.signal(signal.SIGINT, _interrupted)
        except ValueError:  # not the main thread: not a console script's start-up
            pass


_exit_on_ctrl_c()
