"""Every tool is documented: --help with a runnable example, and an up-to-date man page."""
import pytest

from conftest import ROOT, run_tool
from leap_cli import manpages

TOOLS = manpages.tools()


def test_tools_are_registered():
    assert "leap-clips" in TOOLS


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_help_has_description_and_example(name):
    res = run_tool(name, "--help", check=True)
    assert res.stdout.startswith("Usage: ")
    assert "Example" in res.stdout, f"{name} --help shows no example"
    assert res.stderr == ""


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_man_page_is_current(name):
    path = ROOT / "man" / f"{name}.1"
    assert path.exists(), f"man/{name}.1 is missing: run `make man`"
    assert path.read_text() == manpages.page(name, TOOLS[name]), f"man/{name}.1 is stale: run `make man`"


def test_no_stale_pages_for_removed_tools():
    pages = {p.stem for p in (ROOT / "man").glob("leap-*.1")}
    assert pages == set(TOOLS), "man/ and the console scripts differ: run `make man`"


def test_pip_install_puts_every_man_page_where_man_looks():
    read_configuration = pytest.importorskip("setuptools.config.pyprojecttoml").read_configuration
    files = dict(read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]["data-files"])
    assert sorted(files["share/man/man1"]) == sorted(f"man/{name}.1" for name in TOOLS)


def test_the_venv_has_the_man_pages(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    pages = os.path.join(sys.prefix, "share", "man", "man1")
    missing = [n for n in TOOLS if not os.path.exists(os.path.join(pages, f"{n}.1"))]
    assert missing == [], f"{pages} lacks {missing}: make install links them (pip install . copies them)"
    if shutil.which("man"):  # man-db finds BIN/../share/man for every BIN on PATH
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        env.pop("MANPATH", None)
        where = subprocess.run(["man", "-w", "leap-prompt"], capture_output=True, text=True, env=env)
        assert where.returncode == 0 and where.stdout.strip().endswith("leap-prompt.1")
