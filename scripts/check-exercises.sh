#!/usr/bin/env bash
# CI proof that `npm run check` means something, both ways:
#  1. every exercise, untouched, fails its lesson's tests (npm run check -- NN exits 1), even when
#     every other exercise is solved: no skeleton passes by accident;
#  2. with the lessons' files copied over the exercises, npm run check passes (exit 0).
# It works in a temporary copy of the project (node_modules linked, not copied); the checkout is
# never touched. Usage: bash scripts/check-exercises.sh [--bun]   (--bun: the checker runs on Bun)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

check=(node --import tsx scripts/check.ts)
case "${1:-}" in
  '') ;;
  --bun) check=(npx --yes "bun@$(node -p 'require("./package.json").config.bun')" scripts/check.ts) ;;
  *) echo "check-exercises: unknown option $1; usage: bash scripts/check-exercises.sh [--bun]" >&2; exit 2 ;;
esac

copy=$(mktemp -d "${TMPDIR:-/tmp}/every-core-exercises.XXXXXX")
trap 'rm -rf "$copy"' EXIT
tar -c --exclude=./node_modules --exclude=./.git --exclude=./.pm2 . | tar -x -C "$copy"
ln -s "$root/node_modules" "$copy/node_modules"
cp -r "$copy/exercises" "$copy/skeletons"
cd "$copy"
copy=$(pwd -P)

lessons=$(cd exercises && ls -d [0-9][0-9]-*/ | tr -d /)
solve() { for file in "exercises/$1"/*.ts; do cp "lessons/$1/$(basename "$file")" "$file"; done; }
unsolve() { cp "skeletons/$1"/*.ts "exercises/$1/"; }

failed=0
for lesson in $lessons; do solve "$lesson"; done
npm run --silent typecheck
for lesson in $lessons; do
  unsolve "$lesson"
  set +e
  "${check[@]}" "${lesson:0:2}" >check.log 2>&1
  code=$?
  set -e
  if [ "$code" -eq 1 ]; then
    echo "ok: the untouched exercise $lesson fails its lesson's tests ($(grep -m1 -o '[0-9]* of [0-9]* tests pass' check.log))"
  else
    echo "FAIL: npm run check -- ${lesson:0:2} exited $code on the untouched exercise $lesson (expected 1):" >&2
    cat check.log >&2
    failed=1
  fi
  solve "$lesson"
done

echo "with the lessons' files copied over every exercise:"
if ! "${check[@]}"; then
  echo "FAIL: npm run check does not pass on the lessons' own files" >&2
  failed=1
fi

# The tests ran in the copy, where the checkout's own leak check (.ci/run) does not look.
for pid in $(pgrep -f '(lessons|exercises)/[0-9][0-9]-' || true); do
  if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$copy" ]; then
    echo "FAIL: left running: $(ps -o pid=,args= -p "$pid")" >&2
    failed=1
  fi
done
exit "$failed"
