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
