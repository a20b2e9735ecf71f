#!/usr/bin/env bash
# CI proof that `npm run check` means something, step by step:
#  1. every exercise, untouched, fails its lesson's tests (npm run check -- NN exits 1), even when
#     every other exercise is solved: no skeleton passes by accident;
#  2. the TODO matrix: for every step of every exercise, the exercise with every other step solved
#     and that one left as the skeleton has it fails, with that step's own todo() line in the output
#     and "Next TODO: TODO n" (scripts/cut-steps.ts cuts the steps out of the lesson's files);
#  3. with every step solved, npm run check passes (exit 0).
# It works in a temporary copy of the project (node_modules linked, not copied); the checkout is
# never touched. Usage: bash scripts/check-exercises.sh [--bun] [--no-matrix] [--one-at-a-time] [NN ...]   (--bun: the checker runs on Bun)
# Quickest on a Node that strips types itself (22.18+): the checker and its tests start without tsx.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

# The kit's loader only where this Node cannot run TypeScript itself (Node 20): see lib/strip-types.mjs.
loader=(--import "$root/lib/strip-types.mjs")
[ "$(node -p 'Boolean(process.features.typescript)')" = true ] && loader=()
check=(node ${loader[@]+"${loader[@]}"} scripts/check.ts)
cut=(node ${loader[@]+"${loader[@]}"} scripts/cut-steps.ts)
matrix=true
lanes=2 # matrix cells at once
numbers=()
for arg in "$@"; do
  case "$arg" in
    --bun) check=(npx --yes "bun@$(node -p 'require("./package.json").config.bun')" scripts/check.ts) ;;
    # Untouched and solved only: the matrix proves the checker and the typecheck the skeletons, the
    # same on every runtime, so CI runs them on one.
    --no-matrix) matrix=false ;;
    --one-at-a-time) lanes=1 ;; # one matrix cell at a time
    [0-9][0-9]) numbers+=("$arg") ;;
    *) echo "check-exercises: unknown argument $arg; usage: bash scripts/check-exercises.sh [--bun] [--no-matrix] [--one-at-a-time] [NN ...]" >&2; exit 2 ;;
  esac
done
set -- ${numbers[@]+"${numbers[@]}"}

# Steps that the lessons' tests cannot catch yet, each with why, as [NN:n]="why": the matrix still
# runs them and says so, and fails if one starts to be caught (then delete it here). None today:
# every step of every exercise has a todo() of its own, and a test that fails without it.
declare -A known_gaps=()

copy=$(mktemp -d "${TMPDIR:-/tmp}/every-core-exercises.XXXXXX")
scratch="$copy.tmp"
# The matrix's lanes too, and the checks they run: each ends the test run it started as it exits.
cleanup() {
  local lane
  for lane in $(jobs -p); do
    pkill -TERM -P "$lane" || true
    kill "$lane" 2>/dev/null || true
  done
  rm -rf "$copy" "$copy".[0-9] "$copy.solved" "$scratch"
}
trap cleanup EXIT
# The tests' temporary folders go in one of ours: a test run ended at its first failure cannot
# remove its own (its after hooks never run), and this script removes this one as it exits.
mkdir "$scratch"
export TMPDIR="$scratch"
tar -c --exclude=./node_modules --exclude=./.git --exclude=./.pm2 . | tar -x -C "$copy"
ln -s "$root/node_modules" "$copy/node_modules"
cp -r "$copy/exercises" "$copy/skeletons"
cd "$copy"
copy=$(pwd -P)

all=$(cd exercises && ls -d [0-9][0-9]-*/ | tr -d /)
lessons=$all
if [ $# -gt 0 ]; then lessons=$(for n in "$@"; do echo "$all" | grep "^$n-" || { echo "check-exercises: no exercise $n" >&2; exit 2; }; done); fi
solve() { "${cut[@]}" write "${1:0:2}" ${2:+"$2"}; }
unsolve() { cp "skeletons/$1"/*.ts "exercises/$1/"; }
resolve() { cp "solved/$1"/*.ts "exercises/$1/"; } # as solve "$1" left it, without a start of cut-steps
# The checker stops at the first failing test (EVERY_CORE_CHECK_BAIL, see scripts/check.ts): that is
# all these proofs read, and the tests after it would wait for what an unwritten step never does.
bail() { EVERY_CORE_CHECK_BAIL=1 "${check[@]}" "$@"; }

failed=0
unjudged="" # exercises whose lesson's tests all skip on this runtime
# Every exercise solved first, the ones not checked too: exercise 02 loads your exercise 01 server.
for lesson in $all; do solve "$lesson"; done
cp -r exercises solved
# The solved exercises typecheck: the skeleton's given code fits the lesson's lines put into it.
if $matrix && ! npm run --silent typecheck >typecheck.log 2>&1; then
  echo "FAIL: with every step solved from the lessons, the exercises do not typecheck: their given code differs from the lesson's:" >&2
  cat typecheck.log >&2
  failed=1
fi
for lesson in $lessons; do
  unsolve "$lesson"
  set +e
  bail "${lesson:0:2}" >check.log 2>&1
  code=$?
  set -e
  if [ "$code" -eq 0 ] && grep -q "^○ $lesson .*not checked on" check.log; then
    # Its lesson's tests skip on this runtime (lesson 09 before Node 22.12): check.ts says so, and so
    # does this proof, which leaves that exercise to the runtimes that can judge it (CI runs Node 26 too).
    echo "not checked here: $(grep -m1 "^○ $lesson" check.log)"
    unjudged+=" $lesson "
  elif [ "$code" -eq 1 ]; then
    echo "ok: the untouched exercise $lesson fails its lesson's tests (first: $(grep -m1 -o 'First failing test: .*' check.log | cut -c21-))"
  else
    echo "FAIL: npm run check -- ${lesson:0:2} exited $code on the untouched exercise $lesson (expected 1):" >&2
    cat check.log >&2
    failed=1
  fi
  resolve "$lesson"
done

lessons=$(for lesson in $lessons; do [[ "$unjudged" == *" $lesson "* ]] || echo "$lesson"; done)
echo "the TODO matrix: each step left unwritten alone"
$matrix || echo "(left out: --no-matrix)"

# One cell of the matrix, in the copy it is run in: prints its verdict; a failure also goes to failures.log.
cell() {
  local lesson=$1 step=$2 where=$3 problem=$4 code line gap=${known_gaps[${1:0:2}:$2]:-}
  solve "$lesson" "$step"
  set +e
  bail "${lesson:0:2}" >check.log 2>&1
  code=$?
  set -e
  resolve "$lesson"
  line=$(grep -m1 -o "TODO in exercises/$lesson/[^ ]*: .*(TODO $step)" check.log || true)
  if [ "$code" -eq 1 ] && [ -n "$line" ] && grep -q "Next TODO: TODO $step\b" check.log; then
    if [ -z "$gap" ]; then echo "ok: $lesson TODO $step ($where) unwritten: check exits 1, names it and shows $line"; return; fi
    echo "FAIL: $lesson TODO $step is caught now: delete it from known_gaps in scripts/check-exercises.sh" | tee -a failures.log >&2
  elif [ -n "$gap" ]; then
    echo "known gap: $lesson TODO $step ($where): $gap (check exited $code)"
  else
    echo "FAIL: $lesson TODO $step ($where) unwritten alone: check exited $code${problem:+ ($problem)}; expected 1, \"Next TODO: TODO $step\" and its todo() line (its output below)" >&2
    { echo "---- $lesson TODO $step: npm run check -- ${lesson:0:2} printed:"; cat check.log; } >>failures.log
  fi
}

# Every step of every exercise, one per line: lesson, step, where, what keeps it from being cut alone.
cells=$(for lesson in $($matrix && echo "$lessons"); do "${cut[@]}" list "${lesson:0:2}" | awk -v lesson="$lesson" '{ print lesson "\t" $0 }'; done)
# Cells run $lanes at a time, each lane in a copy of its own: the tests mostly wait for their lessons.
dirs=("$copy")
[ -n "$cells" ] || lanes=0
for ((k = 1; k < lanes; k++)); do
  mkdir "$copy.$k"
  cp -a . "$copy.$k"
  dirs+=("$copy.$k")
done
# Beside the matrix, in a copy of its own with every step solved: npm run check as a learner runs it,
# every lesson's tests one lesson at a time (61 s of the 144 s this took on Node 26 one after the other).
solved_check() {
  echo "with every step solved:"
  if [ -z "$lessons" ]; then
    echo "nothing left to check on this runtime"
  elif ! "${check[@]}" $(for lesson in $lessons; do echo "${lesson:0:2}"; done); then
    echo "FAIL: npm run check does not pass with every step solved from the lessons' files" >&2
    return 1
  fi
}
beside=""
if [ "$lanes" -gt 0 ]; then
  mkdir "$copy.solved"
  cp -a . "$copy.solved"
  dirs+=("$copy.solved")
  (cd "$copy.solved" && solved_check) >"$scratch/solved.log" 2>&1 &
  beside=$!
fi
lane_pids=()
for ((k = 0; k < lanes; k++)); do
  {
    (
      cd "${dirs[$k]}"
      i=0
      while IFS=$'\t' read -r lesson step where problem; do
        if [ $((i++ % lanes)) -eq "$k" ]; then cell "$lesson" "$step" "$where" "$problem"; fi
      done <<<"$cells"
    ) || echo "FAIL: matrix lane $k stopped with exit code $? before its last cell" >>"${dirs[$k]}/failures.log"
  } &
  lane_pids+=($!)
done
for pid in ${lane_pids[@]+"${lane_pids[@]}"}; do wait "$pid"; done
for dir in "${dirs[@]}"; do
  [ -s "$dir/failures.log" ] || continue
  cat "$dir/failures.log" >&2
  failed=1
done

if [ -n "$beside" ]; then
  wait "$beside" || failed=1
  cat "$scratch/solved.log"
elif ! solved_check; then
  failed=1
fi

# The tests ran in the copies, where the checkout's own leak check (.ci/run) does not look.
for pid in $(pgrep -f '(lessons|exercises)/[0-9][0-9]-' || true); do
  if [[ " ${dirs[*]} " == *" $(readlink "/proc/$pid/cwd" 2>/dev/null) "* ]]; then
    echo "FAIL: left running: $(ps -o pid=,args= -p "$pid")" >&2
    failed=1
  fi
done
exit "$failed"
