#!/usr/bin/env python3
"""Runs `rnc emit-mlir` on every malformed spec in corpus/ and checks that each
gets exactly one line on stderr, starting with the file name and containing
the JSON path and reason listed in expected.tsv, an exit status of 1 (not a
crash or signal), no output on stdout, and that it returns within 10 s.

Usage: check_corpus.py RNC_BINARY CORPUS_DIR EXPECTED_TSV
"""
import os
import subprocess
import sys


def main():
    rnc, corpus, expected_tsv = sys.argv[1:4]
    expected = {}
    with open(expected_tsv, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, text = line.rstrip("\n").split("\t", 1)
            expected[name] = text
    files = sorted(n for n in os.listdir(corpus) if n.endswith(".json"))
    failures = []
    missing = set(expected) - set(files)
    unlisted = set(files) - set(expected)
    for name in sorted(missing):
        failures.append(f"{name}: listed in expected.tsv but not in the corpus")
    for name in sorted(unlisted):
        failures.append(f"{name}: in the corpus but has no line in expected.tsv")
    passed = 0
    for name in files:
        if name not in expected:
            continue
        path = os.path.join(corpus, name)
        try:
            proc = subprocess.run([rnc, "emit-mlir", path], capture_output=True,
                                  timeout=10)
        except subprocess.TimeoutExpired:
            failures.append(f"{name}: no answer within 10 s (hang)")
            continue
        err = proc.stderr.decode("utf-8", "replace")
        lines = err.splitlines()
        problems = []
        if proc.returncode != 1:
            problems.append(f"exit status {proc.returncode}, expected 1")
        if proc.stdout:
            problems.append(f"printed {len(proc.stdout)} bytes on stdout")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, expected 1")
        elif not lines[0].startswith(path + ": "):
            problems.append("error does not start with the file name")
        elif expected[name] not in lines[0]:
            problems.append(f"error lacks {expected[name]!r}")
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}\n    stderr: {err.strip()[:400]}")
        else:
            passed += 1
    for f in failures:
        print("FAIL", f)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
