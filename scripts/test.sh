#!/usr/bin/env bash
# Builds everything and runs the whole test suite; exits non-zero on any failure.
# Data tests read SIGNS from $SIGNS_DIR when it is set (they skip, saying why, when it is not).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The tests run in their build folder: make a relative SIGNS_DIR absolute first (a folder that
# does not exist is passed on as given, and the data tests then fail, naming it).
if [ -n "${SIGNS_DIR:-}" ] && [ -d "$SIGNS_DIR" ]; then
  SIGNS_DIR="$(cd "$SIGNS_DIR" && pwd)"
  export SIGNS_DIR
fi
cd "$repo_root"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

dotnet build Engine.sln -c Release -nologo -v quiet
status=0
dotnet test tests/Engine.Tests.csproj -c Release --no-build -nologo \
  --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@" || status=$?

# One plain summary line, whatever the runner printed.
trx="$(find "$results" -name '*.trx' | head -n 1)"
if [ -n "$trx" ]; then
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed="$(get passed)"; failed="$(get failed)"; total="$(get total)"; executed="$(get executed)"
  skipped=$(( ${total:-0} - ${executed:-0} ))
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
  if [ "${executed:-0}" -eq 0 ]; then
    echo "error: no test was executed" >&2
    status=1
  fi
else
  echo "error: the test run produced no results" >&2
  status=1
fi
exit "$status"
