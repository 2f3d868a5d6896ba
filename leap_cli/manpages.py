"""Man pages for every console script, generated from the click commands themselves.

``python -m leap_cli.manpages DIR`` writes DIR/<tool>.1; a test fails when a checked-in page is
stale or a tool has none. Output is deterministic (no dates), so pages diff cleanly.
"""
from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from . import __version__


def tools() -> dict[str, click.Command]:
    """Console scripts of this package: name -> click command."""
    found = {}
    for ep in entry_points(group="console_scripts"):
        if ep.value.startswith("leap_cli."):
            found[ep.name] = ep.load()
    return dict(sorted(found.items()))


def _esc(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _help_text(ctx: click.Context, cmd: click.Command) -> str:
    text = cmd.help or ""
    # click's "\b" marks a paragraph that must not be re-wrapped: render it as literal lines.
    out = []
    for para in text.split("\n\n"):
        para = "\n".join(line.strip() for line in para.strip("\n").splitlines())
        if para.startswith("\b"):
            out.append(".nf\n" + _esc(para[1:].strip("\n")) + "\n.fi")
        else:
            out.append(_esc(" ".join(para.split())))
    return "\n.PP\n".join(p for p in out if p)


def _options(ctx: click.Context, cmd: click.Command) -> list[str]:
    lines = []
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Argument):
            continue
        record = param.get_help_record(ctx)
        if record:
            lines += [".TP", f"\\fB{_esc(record[0])}\\fR", _esc(record[1]) or "\\&"]
    return lines


def page(name: str, cmd: click.Command) -> str:
    """The roff text of one tool's man page."""
    ctx = click.Context(cmd, info_name=name)
    summary = (cmd.get_short_help_str(limit=200) or "").rstrip(".")
    lines = [f'.TH "{name.upper()}" "1" "" "leap-cli {__version__}" "LEAP toolkit"',
             ".SH NAME", f"{_esc(name)} \\- {_esc(summary)}",
             ".SH SYNOPSIS", f"\\fB{_esc(name)}\\fR {_esc(' '.join(cmd.collect_usage_pieces(ctx)))}",
             ".SH DESCRIPTION", _help_text(ctx, cmd),
             ".SH OPTIONS", *_options(ctx, cmd)]
    if isinstance(cmd, click.Group):
        for sub_name, sub in sorted(cmd.commands.items()):
            sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
            lines += [f'.SH "COMMAND {sub_name.upper()}"',
                      f"\\fB{_esc(name)} {_esc(sub_name)}\\fR {_esc(' '.join(sub.collect_usage_pieces(sub_ctx)))}",
                      ".PP", _help_text(sub_ctx, sub), *_options(sub_ctx, sub)]
    others = ", ".join(f"\\fB{_esc(n)}\\fR(1)" for n in tools() if n != name)
    lines += [".SH SEE ALSO", others or "\\&"]
    return "\n".join(lines) + "\n"


def write_all(directory: str) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cmd in tools().items():
        path = out / f"{name}.1"
        path.write_text(page(name, cmd), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(sys.argv[1] if len(sys.argv) > 1 else "man"):
        print(p)
