"""Run inside the reproduced training environment (``python -c``, cwd = the code AzureML runs the
step in): every third-party module the step's code imports, lazily too, is installed, and the step's
command module starts (``--help`` imports it and builds its argument parser)."""

import importlib.util
import json
import os
import subprocess
import sys

assert importlib.util.find_spec("predmaint") is None and importlib.util.find_spec("pytest") is None, sys.path

steps = json.loads(os.environ["IMAGECHECK_STEPS"])  # {module: [third-party top-level names]}
result = {}
for module, names in steps.items():
    missing = sorted(name for name in names if importlib.util.find_spec(name) is None)
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    result[module] = {"missing": missing, "help_exit": done.returncode, "stderr": done.stderr[-2000:]}
print("IMAGECHECK-RESULT " + json.dumps(result))
