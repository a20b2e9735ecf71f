// An exercise's steps, for npm run check: which TODO a failing test needs, which steps are still
// unwritten, and each step's hints. Pure: it reads the text it is handed, so its tests need no files.
// The steps and hints live with each exercise, in exercises/NN-topic/hints.md (format below).

export interface Step {
  number: number;
  title: string;
  file: string; // the exercise file that holds it, e.g. server.ts
  tests: string[]; // the tests that check it: each a part of a test's name
  hints: string[]; // what to look at, then more, then the recipe
}

// A step's marker in the code: its todo() call, or a string that says `TODO in <file>: ... (TODO n)`.
export interface Marker {
  number: number;
  file: string; // exercises/NN-topic/x.ts
  line: number; // 1-based
  text: string; // `TODO in <file>: <what> (TODO n)`
}

export interface Next {
  number: number;
  why: 'reached' | 'unwritten' | 'written' | 'first';
  checks: number[]; // every step the failing test checks, by the hints file
}

const todoText = /TODO in ([\w./-]+): (.*?\(TODO (\d+)\))/;

// hints.md: a `## TODO n: title (file.ts)` heading per step, then paragraphs that start with
// `Tests:` (parts of test names, split by |), `Look at:`, `More:`, and `Recipe:`, which runs to the
// next heading (it may hold code blocks).
export function parseHints(text: string): Step[] {
  const sections = text.split(/^(?=## TODO \d+)/m).filter((section) => section.startsWith('## TODO'));
  return sections.map((section) => {
    const [heading, ...body] = section.split('\n');
    const [, number, title, file = ''] = heading.match(/^## TODO (\d+):\s*(.*?)\s*(?:\((\S+\.ts)\))?\s*$/) ?? [];
    const rest = body.join('\n');
    const paragraph = (label: string) => rest.match(new RegExp(`^${label}:[ \\t]*([^]*?)(?:\\n[ \\t]*\\n|(?![^]))`, 'm'))?.[1].trim() ?? '';
    const recipe = rest.match(/^Recipe:[ \t]*\n?([^]*)$/m)?.[1].trim() ?? '';
    const tests = paragraph('Tests').split('|').map((part) => part.trim()).filter(Boolean);
    return { number: Number(number), title, file, tests, hints: [paragraph('Look at'), paragraph('More'), recipe].filter(Boolean) };
  });
}

// Why a runtime cannot judge the exercise at all, from a `Not judged on Bun:` paragraph before the
// first step (Bun's cluster gives every worker a socket of its own, so exercise 09's steps change
// nothing there): the reason, or undefined where the runtime can judge it.
export function notJudgedOn(text: string, runtime: 'Bun' | 'Node'): string | undefined {
  const head = text.split(/^## TODO \d+/m)[0];
  return head.match(new RegExp(`^Not judged on ${runtime}:[ \\t]*([^]*?)(?:\\n[ \\t]*\\n|(?![^]))`, 'm'))?.[1].trim().replace(/\s+/g, ' ');
}

// The markers still in a file: each line that names `TODO in <file>: ... (TODO n)` in code (not in a
// comment). A learner's own `// TODO` note is no marker, and neither is a step's comment, which may stay.
export function markersIn(file: string, source: string): Marker[] {
  const markers: Marker[] = [];
  source.split('\n').forEach((line, i) => {
    const code = line.replace(/^\s*\/\/.*$/, '');
    const found = code.match(todoText) ?? (/\btodo\(/.test(code) ? code.match(/\(TODO (\d+)\)/) : null);
    if (!found) return;
    const number = Number(found.length > 3 ? found[3] : found[1]);
    markers.push({ number, file, line: i + 1, text: found.length > 3 ? `TODO in ${found[1]}: ${found[2]}` : line.trim() });
  });
  return markers;
}

// Lines that todo() printed, in a test's message or the run's log: `TODO in <file>: <what> (TODO n)`.
export function todoLines(text: string): Marker[] {
  return text.split('\n').flatMap((line) => {
    const found = line.match(todoText);
    return found ? [{ number: Number(found[3]), file: found[1], line: 0, text: `TODO in ${found[1]}: ${found[2]}` }] : [];
  });
}

// The step a failing test needs: one whose todo() it reached; else, of the steps the hints file says
// it checks, the first still unwritten, or with all of them written the last (steps are written in
// order: the latest is the likeliest to be off); a test the hints file does not name: the first step
// reached, else the first unwritten.
export function nextStep(test: { name: string; message?: string }, steps: Step[], unwritten: number[], reached: number[]): Next | undefined {
  const lowest = (numbers: number[]) => (numbers.length > 0 ? Math.min(...numbers) : undefined);
  const checks = steps.filter((step) => step.tests.some((part) => test.name.includes(part))).map((step) => step.number);
  const inMessage = lowest(todoLines(test.message ?? '').map((marker) => marker.number));
  if (inMessage !== undefined) return { number: inMessage, why: 'reached', checks };
  if (checks.length > 0) {
    const hit = lowest(checks.filter((n) => reached.includes(n)));
    if (hit !== undefined) return { number: hit, why: 'reached', checks };
    const open = lowest(checks.filter((n) => unwritten.includes(n)));
    if (open !== undefined) return { number: open, why: 'unwritten', checks };
    return { number: Math.max(...checks), why: 'written', checks };
  }
  const hit = lowest(reached);
  if (hit !== undefined) return { number: hit, why: 'reached', checks };
  const open = lowest(unwritten);
  return open === undefined ? undefined : { number: open, why: 'first', checks };
}

// A step's comment in the file, if the learner kept it: the `// TODO n:` line and the comment lines
// under it, up to the next TODO or the first line of code.
export function commentOf(source: string, number: number): { line: number; text: string } | undefined {
  const lines = source.split('\n');
  const at = lines.findIndex((line) => new RegExp(`^\\s*// TODO ${number}:`).test(line));
  if (at === -1) return undefined;
  const text = [lines[at].replace(/^\s*\/\/ /, '')];
  for (const line of lines.slice(at + 1)) {
    const match = line.match(/^\s*\/\/ ?(.*)$/);
    if (!match || /^TODO \d+:/.test(match[1])) break;
    text.push(match[1]);
  }
  return { line: at + 1, text: text.join('\n') };
}

// How many hints to show: 1 by default, 2 with --hint, all (the recipe) with --hint twice or --solution.
export function hintLevel(hintFlags: number, solution: boolean): number {
  return solution ? 3 : Math.min(3, 1 + hintFlags);
}

// The test files of a lesson run side by side, so their results arrive interleaved: put them back in
// the files' order (`files` as given to the runner, relative; a result's `file` is absolute), each
// file's results in their own order, anything of no known file last. The first failing test is then
// the same whichever file finished first.
export function inFilesOrder<T extends { file?: string }>(results: T[], files: string[]): T[] {
  const rank = (result: T) => {
    const index = files.findIndex((file) => result.file?.endsWith(`/${file}`));
    return index === -1 ? files.length : index;
  };
  return results.map((result, arrival) => ({ result, arrival, rank: rank(result) })).sort((a, b) => a.rank - b.rank || a.arrival - b.arrival).map(({ result }) => result);
}
