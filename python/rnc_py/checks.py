"""Small helpers of the Python test scripts: named checks and running tools."""
import os
import subprocess
import sys

failures = []


def check(ok, what):
    """Prints `ok    what` or `FAIL  what` and remembers failures."""
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def run(*args, expect_ok=False, env=None):
    """Runs a command, capturing its output as text; `env` adds variables.
    With expect_ok, a failing command ends the script with its stderr."""
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       env=full)
    if expect_ok and p.returncode != 0:
        sys.exit("command failed (%d): %s\n%s" % (p.returncode,
                                                  " ".join(map(str, args)), p.stderr))
    return p


def summary():
    """The last line and the exit status of a test script."""
    print("%d checks failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0
