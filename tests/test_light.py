"""Light tools stay light: no heavy import on start-up, and a clear message when an extra is missing."""
import subprocess
import sys

import pytest

from leap_cli import manpages

HEAVY = ("torch", "onnxruntime", "openai", "sentence_transformers", "matplotlib", "jsonschema")


@pytest.mark.parametrize("name", sorted(manpages.tools()))
def test_help_imports_nothing_heavy(name):
    ep = next(ep for ep in __import__("importlib.metadata").metadata.entry_points(group="console_scripts")
              if ep.name == name)
    module = ep.value.split(":")[0]
    code = (f"import sys; sys.argv = ['{name}', '--help']\n"
            f"import {module} as m\n"
            "try:\n    m.cli()\nexcept SystemExit:\n    pass\n"
            f"bad = [h for h in {HEAVY!r} if h in sys.modules]\n"
            "print('HEAVY:' + ','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Example" in out
    assert out.strip().splitlines()[-1] == "HEAVY:", f"{name} --help imports {out.strip().splitlines()[-1]}"


def test_missing_onnxruntime_names_the_extra():
    code2 = ("import sys; sys.modules['onnxruntime'] = None\n"
             "from leap_cli import onnx\n"
             "try:\n    onnx.runtime()\nexcept onnx.ModelError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True).stdout.strip()
    assert out == ("onnxruntime is not installed: `pip install 'leap-cli[cpu]'`, or `pip install 'leap-cli[gpu]'` "
                   "on a CUDA machine (never both: they overwrite each other)")


def test_the_training_config_is_torch_free():
    # leap-train's click defaults come from TrainConfig: importing them must not cost torch's start-up
    code = ("import sys\nimport leap_cli.commands.train, leap_cli.learn.config\n"
            f"print('HEAVY:' + ','.join(h for h in {HEAVY!r} if h in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "HEAVY:"
