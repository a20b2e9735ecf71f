// Runs the suite on the other Nodes of the kit's matrix: `npm test`'s own command, with the Node
// pinned in package.json (config.node) fetched from the npm registry by npx, as npm run test:bun
// does for Bun. Nothing is installed globally; npx keeps each in npm's cache.
// Run it:  npm run test:node -- 26        (or several: npm run test:node -- 22 24 26)

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exitOnSignals, root } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';

const project = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pins: Record<string, string> = project.config.node; // major -> exact version, e.g. "26": "26.10.0"
const usage = `Usage: npm run test:node -- <major> [<major> ...]

  <major>   one of ${Object.keys(pins).join(', ')}: runs npm test's command on that Node (${Object.values(pins).join(', ')})`;

const majors = readArgs(process.argv.slice(2));
exitOnSignals(); // Ctrl+C ends the run; the suite's own lessons are ended by its test processes
const results = [];
for (const major of majors) results.push(await runSuite(pins[major]));
console.log(`\n${results.map(({ version, summary, code }) => `node ${version}: ${summary} (exit ${code})`).join('\n')}`);
process.exitCode = results.some((result) => result.code !== 0) ? 1 : 0;

// npm test's command line, with `node` replaced by that Node, run through the shell for its globs.
async function runSuite(version: string): Promise<{ version: string; summary: string; code: number }> {
  const command = String(project.scripts.test).replace(/^node /, `npx --yes node@${version} `);
  console.log(`\n> ${command}\n`);
  const child = spawn('sh', ['-c', command], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    process.stdout.write(text);
  });
  const [code] = await once(child, 'exit');
  const count = (name: string) => output.match(new RegExp(`^ℹ ${name} (\\d+)$`, 'm'))?.[1] ?? '?';
  return { version, summary: `${count('tests')} tests, ${count('pass')} pass, ${count('skipped')} skipped, ${count('fail')} fail`, code: code ?? 1 };
}

function readArgs(argv: string[]): string[] {
  const { fail, parse } = commandLine('test:node', usage);
  const { positionals } = parse(argv, {}, { positionals: true });
  if (positionals.length === 0) return fail('name at least one Node major version');
  const unknown = positionals.find((major) => !(major in pins));
  if (unknown !== undefined) return fail(`no Node ${JSON.stringify(unknown)} in the matrix`);
  return positionals;
}
