"""leap-parse --text on N functions: seconds per size (linear: each function is parsed from its
own lines). Usage: python bench/parse_text.py [N ...]"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FN = 'def wash_cup_{i}():\n    # Holding nothing at start.\n    if not in_hand("cup"):\n        grasp("cup")\n        assert in_hand("cup")\n'

for n in [int(a) for a in sys.argv[1:]] or [1000, 4000, 16000]:
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write("".join(FN.format(i=i) for i in range(n)))
        f.flush()
        t = time.perf_counter()
        out = subprocess.run([str(BIN / "leap-parse"), "--text", f.name, "-q"], capture_output=True, check=True).stdout
        print(f"{n} functions: {time.perf_counter() - t:.2f} s, {len(out.splitlines())} records")
