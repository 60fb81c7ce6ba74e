"""Replays the hostile-input table (cases.py) against rnc's tools.

Usage: hostile.py --bin DIR --fake-dir DIR --work DIR [--only TOOL,...]
                  [--rnc-run PATH] [--rnc-opt PATH] [--sanitized] [-k NAME]

Each case runs in a fresh folder of its own (the working directory; HOME,
XDG_CACHE_HOME and TMPDIR point inside it), with the inputs its setup made.
A case passes when:
  * the exit status is the expected one (never a signal, never a hang: each
    case has a timeout);
  * stderr is exactly the expected number of lines (one for an error) and
    the first matches the expected pattern; no sanitizer report anywhere;
  * no file that existed before changed (content, type, link target), and
    no new file appeared except the outputs the case lists;
  * nothing appeared outside the case folder (its parent is compared before
    and after), and TMPDIR is empty again.
With --sanitized (the ASan/UBSan builds of rnc-run and rnc-opt), only the
cases of those tools run, and a sanitizer report fails the case.
"""
import argparse
import fnmatch
import hashlib
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import time

import cases as table

SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                       r"UndefinedBehaviorSanitizer")


def snapshot(root):
    """Every entry under root: relative path -> (kind, size, digest/target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = ("file", hashlib.sha256(f.read()).hexdigest(),
                                stat.S_IMODE(st.st_mode))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_ino)
    return out


def limits(sanitized):
    """Bounds a case's process, so that a tool with the bug a case tests
    cannot take the machine down: 1 GiB per written file and, without
    ASan, 8 GiB of address space."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))
    if not sanitized:
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def allowed(rel, patterns):
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


class Env:
    """What a case's setup and command can use."""

    def __init__(self, args):
        self.bin = args.bin
        self.fake_dir = args.fake_dir
        self.work = args.work
        self.fixtures = os.path.join(args.work, "fixtures")
        self.tools = {"rnc": os.path.join(args.bin, "rnc"),
                      "rnc-run": args.rnc_run or os.path.join(args.bin, "rnc-run"),
                      "rnc-opt": args.rnc_opt or os.path.join(args.bin, "rnc-opt")}

    def fake(self, name="fake_model"):
        return os.path.join(self.fake_dir, name + ".so")


def run_case(env, case, sanitized):
    folder = os.path.join(env.work, "cases", case.name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "tmp"))
    os.makedirs(os.path.join(folder, "home"))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for step in case.setup:
            step(env)
    except table.Skip as why:
        return None, str(why)
    finally:
        os.chdir(cwd)
    before = snapshot(folder)
    parent = os.path.dirname(folder)
    outside = sorted(os.listdir(parent))

    run_env = dict(os.environ)
    run_env.update({"HOME": os.path.join(folder, "home"),
                    "XDG_CACHE_HOME": os.path.join(folder, "home", ".cache"),
                    "TMPDIR": os.path.join(folder, "tmp"),
                    "RNC_DATA": os.path.join(env.fixtures, "data")})
    run_env.update(case.env)
    if sanitized:
        # ASan reserves terabytes of address space, so RLIMIT_AS cannot bound
        # it; its own RSS limit does.
        run_env["ASAN_OPTIONS"] = (run_env.get("ASAN_OPTIONS", "") +
                                   ":hard_rss_limit_mb=4096").lstrip(":")
    argv = [env.tools[case.tool]] + [a.format(fixtures=env.fixtures,
                                             fake_dir=env.fake_dir)
                                     for a in case.args]
    problems = []
    if case.custom:
        problems += case.custom(env, argv, folder, run_env)
    else:
        try:
            proc = subprocess.run(argv, cwd=folder, env=run_env,
                                  stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=case.timeout,
                                  preexec_fn=lambda: limits(sanitized))
        except subprocess.TimeoutExpired:
            return ["no answer within %d s (hang)" % case.timeout], None
        err = proc.stderr.decode("utf-8", "replace")
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode < 0:
            problems.append("killed by signal %d" % -proc.returncode)
        elif proc.returncode != case.status:
            problems.append("exit status %d, expected %d" %
                            (proc.returncode, case.status))
        if SANITIZER.search(err) or SANITIZER.search(out):
            problems.append("sanitizer report:\n" + err[-3000:])
        lines = [l for l in err.splitlines() if l.strip()]
        if case.lines is not None and len(lines) != case.lines:
            problems.append("%d lines on stderr, expected %d:\n%s" %
                            (len(lines), case.lines, err[-2000:]))
        if case.expect and not (lines and re.search(case.expect, lines[0])):
            problems.append("stderr does not match /%s/:\n%s" %
                            (case.expect, err[-2000:]))
        if case.stdout and not re.search(case.stdout, out):
            problems.append("stdout does not match /%s/:\n%s" %
                            (case.stdout, out[-2000:]))

    after = snapshot(folder)
    for rel, state in before.items():
        if rel.startswith("tmp") or allowed(rel, case.outputs):
            continue
        if rel not in after:
            problems.append("input %s was removed" % rel)
        elif after[rel] != state:
            problems.append("input %s was changed" % rel)
    for rel in after:
        if rel not in before and not rel.startswith("tmp") and \
                not allowed(rel, case.outputs):
            problems.append("unexpected new file %s" % rel)
    leftovers = os.listdir(os.path.join(folder, "tmp"))
    if leftovers:
        problems.append("temporary files left in TMPDIR: %s" % leftovers)
    if sorted(os.listdir(parent)) != outside:
        problems.append("files appeared outside the case folder: %s" %
                        sorted(set(os.listdir(parent)) - set(outside)))
    for check in case.checks:
        problems += check(folder)
    return problems, None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--fake-dir", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rnc-run")
    p.add_argument("--rnc-opt")
    p.add_argument("--sanitized", action="store_true")
    p.add_argument("-k", help="run only cases whose name contains this")
    args = p.parse_args()
    for key in ("bin", "fake_dir", "work", "rnc_run", "rnc_opt"):
        if getattr(args, key):
            setattr(args, key, os.path.abspath(getattr(args, key)))
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    env = Env(args)
    table.make_fixtures(env)
    cases = table.CASES
    if args.sanitized:
        cases = [c for c in cases if c.tool in ("rnc-run", "rnc-opt")]
    if args.k:
        cases = [c for c in cases if args.k in c.name]
    names = [c.name for c in table.CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit("duplicate case names: %s" % sorted(dup))
    failed = 0
    skipped = []
    start = time.time()
    for case in cases:
        problems, skip = run_case(env, case, args.sanitized)
        if skip:
            skipped.append("%s (%s)" % (case.name, skip))
            continue
        if problems:
            failed += 1
            print("FAIL %s (%s %s)" % (case.name, case.tool, " ".join(case.args)))
            for pr in problems:
                print("    " + pr.replace("\n", "\n    "))
    by_tool = {}
    for c in cases:
        by_tool[c.tool] = by_tool.get(c.tool, 0) + 1
    for s in skipped:
        print("SKIPPED: hostile case %s" % s)
    print("hostile: %d of %d cases passed, %d skipped (%s) in %.0f s%s" %
          (len(cases) - failed - len(skipped), len(cases), len(skipped),
           ", ".join("%s %d" % kv for kv in sorted(by_tool.items())),
           time.time() - start, " [sanitized]" if args.sanitized else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
