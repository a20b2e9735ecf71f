// One way for every runnable step to read its command line and its settings, so that all of them
// answer alike: --help (or -h) prints the usage and exits 0; an option or argument it does not take
// prints one line that says so, then the usage, and exits 2. Node's own parseArgs does the parsing.
// The readers below hold the kit's one rule for a number a person types.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Fail = (problem: string) => never;
type Options = NonNullable<ParseArgsConfig['options']>;

export const limits = {
  maxWhole: 1_000_000_000, // beyond this, a count a person typed is a typo
  maxSeconds: 3600,
  maxPort: 65_535,
};

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

// ---- The readers: one strict decimal rule ----
// Plain decimal digits, nothing else: no sign, no spaces, no 0x/0o/0b, no exponent, no separators,
// no leading zeros. Number() takes "0x10", "1e3", " 7" and "0b11"; a typo should not become a setting.
const whole = /^(0|[1-9]\d{0,15})$/;
const decimal = /^(0|[1-9]\d{0,15})(\.\d{1,9})?$/;

// The number `raw` spells under the rule, or undefined.
export function parseWhole(raw: string): number | undefined {
  return whole.test(raw) ? Number(raw) : undefined;
}

export function parseDecimal(raw: string): number | undefined {
  return decimal.test(raw) ? Number(raw) : undefined;
}

// A count from `min` (1 unless given) to `max`; `hint` ends the line ("try WORKERS=2").
export function wholeNumber(name: string, raw: string, fail: Fail, max = limits.maxWhole, { min = 1, hint = '' } = {}): number {
  const value = parseWhole(raw);
  if (value !== undefined && value >= min && value <= max) return value;
  return fail(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}${hint ? `: ${hint}` : ''}`);
}

export function seconds(name: string, raw: string, fail: Fail, { allowZero = false } = {}): number {
  const value = parseDecimal(raw);
  if (value !== undefined && (allowZero || value > 0) && value <= limits.maxSeconds) return value;
  const floor = allowZero ? 'from 0' : 'above 0';
  return fail(`${name} must be a number of seconds ${floor} (at most ${limits.maxSeconds}), got ${JSON.stringify(raw)}`);
}

// A port from the environment (PORT, WATCH_PORT): unset or empty gives `fallback`; 0 asks for any
// free port unless `min` says otherwise.
export function port(name: string, raw: string | undefined, fallback: number, fail: Fail, { min = 0 } = {}): number {
  if (raw === undefined || raw === '') return fallback;
  return wholeNumber(name, raw, fail, limits.maxPort, { min, hint: `try ${name}=${fallback}` });
}
