// One way for every runnable step to read its command line, so that all of them answer alike:
// --help (or -h) prints the usage and exits 0; an option or argument it does not take prints one
// line that says so, then the usage, and exits 2. Node's own parseArgs does the parsing.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Fail = (problem: string) => never;
type Options = NonNullable<ParseArgsConfig['options']>;

// `name` starts each error line (e.g. "loadtest: unknown option --fast"); `usage` follows it.
export function commandLine(name: string, usage: string) {
  const fail: Fail = (problem) => {
    console.error(`${name}: ${problem}\n\n${usage}`);
    process.exit(2);
  };
  const parse = <T extends Options>(argv: string[], options: T, { positionals = false } = {}) => {
    let parsed;
    try {
      const withHelp = { ...options, help: { type: 'boolean', short: 'h' } } as const;
      parsed = parseArgs({ args: argv, options: withHelp, allowPositionals: positionals, strict: true });
    } catch (error) {
      return fail(plainly(error as NodeJS.ErrnoException));
    }
    if ((parsed.values as { help?: boolean }).help) {
      console.log(usage);
      process.exit(0);
    }
    return parsed;
  };
  return { fail, parse };
}

// parseArgs's messages, in one line each: its own end with advice about '--' that is beside the
// point here (and, for an unknown option, with an unbalanced quote).
function plainly(error: NodeJS.ErrnoException): string {
  const quoted = /'([^']*)'/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}: this step takes options only`;
    default:
      return error.message.split('\n')[0];
  }
}
