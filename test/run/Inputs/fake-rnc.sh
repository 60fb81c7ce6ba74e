#!/bin/sh
# A stand-in for `rnc compile SPEC -o OUT [flags]` in the main-job tests: logs
# its arguments to $FAKE_RNC_LOG and copies $FAKE_RNC_SO to OUT, or, with
# $FAKE_RNC_FAIL set, fails the way rnc does (a note, then a one-line error).
if [ "$1" != compile ]; then
  echo "fake-rnc: expected 'compile', got '$1'" >&2
  exit 2
fi
[ -n "$FAKE_RNC_LOG" ] && echo "$@" >> "$FAKE_RNC_LOG"
if [ -n "$FAKE_RNC_FAIL" ]; then
  echo "note: reading $2" >&2
  echo "$2: $FAKE_RNC_FAIL" >&2
  exit 1
fi
out=
prev=
for arg in "$@"; do
  [ "$prev" = -o ] && out=$arg
  prev=$arg
done
cp "$FAKE_RNC_SO" "$out"
