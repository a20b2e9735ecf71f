// A picture of lesson 11's live page without a desktop: headless Chromium (through playwright-core)
// opens the printed URL, waits until the event stream has filled the table (and, if asked, the
// chart), and saves a PNG. Chromium's own --screenshot catches "connecting..." instead.
// Run it:  npx tsx scripts/screenshot.ts 'http://127.0.0.1:3001/?secret=…' --out watch.png

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { removeWhenGone } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';
import { isMain } from '../lib/runtime.ts';

export const defaults = {
  out: 'watch.png',
  samples: 0, // seconds of chart to wait for (the page adds one sample a second); 0: the table is enough
  maxSamples: 60, // the chart holds a minute
  chromium: '/usr/bin/chromium', // or CHROMIUM=/path/to/chromium
  waitMs: 90_000, // the longest it waits for the page, then it says what it saw
  viewport: { width: 900, height: 640 },
};

const usage = `Usage: npx tsx scripts/screenshot.ts <url> [--out FILE] [--samples N]

  <url>          lesson 11's page, as its primary printed it (with ?secret=)
  --out FILE     where to save the PNG (default ${defaults.out})
  --samples N    also wait until the chart holds N seconds of requests (default ${defaults.samples}, at most ${defaults.maxSamples})
  CHROMIUM=/path/to/chromium if it is not ${defaults.chromium}`;
const { fail, parse } = commandLine('screenshot', usage);

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const { url, out, samples } = readArgs(argv);
  const chromiumPath = process.env.CHROMIUM || defaults.chromium;
  if (!existsSync(chromiumPath)) die(`no Chromium at ${chromiumPath}: apt-get install chromium (Debian), or CHROMIUM=/path/to/chromium`);
  const { chromium } = await import('playwright-core');
  // A fresh profile, removed however this ends; nothing that phones home: it talks to the page only.
  const profile = mkdtempSync(join(os.tmpdir(), 'every-core-screenshot-'));
  const takeBack = removeWhenGone(profile); // by the harness's guardian, should this process be killed with kill -9
  const removeProfile = () => (rmSync(profile, { recursive: true, force: true, maxRetries: 3 }), takeBack());
  process.once('exit', removeProfile);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(128 + os.constants.signals[signal]));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: defaults.viewport,
    timeout: defaults.waitMs,
    // The page's CSP allows its own nonce'd script alone; the wait for the chart below is evaluated
    // in the page by Playwright, and only this context, this script's own, lets it.
    bypassCSP: true,
  });
  // A refusal ends this run only after Chromium has closed and its profile is removed: process.exit()
  // inside the try would skip the finally, and the profile, removed at 'exit' while Chromium still
  // wrote to it, was left half-written.
  let refusal: string | undefined;
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(defaults.waitMs);
    const response = await page.goto(url);
    if (response && response.status() !== 200) {
      refusal = `the page answered ${response.status()}: ${(await response.text()).trim()}`;
      return;
    }
    // The table is drawn from the event stream: its first rows mean the page is live.
    await page.locator('#workers tr').first().waitFor();
    if (samples > 0) await page.waitForFunction(`Number(document.querySelector('#chart')?.getAttribute('data-samples')) >= ${samples}`);
    // What the picture shows, read just before it is taken.
    const rows = await page.locator('#workers tr').count();
    const summary = (await page.locator('#summary').textContent())?.trim();
    const chart = Number(await page.getAttribute('#chart', 'data-samples'));
    await page.screenshot({ path: out });
    console.log(`saved ${out}: ${rows} worker row${rows === 1 ? '' : 's'}, ${chart} s of chart; ${summary}`);
  } finally {
    await browser.close();
    removeProfile(); // now that Chromium has exited: at 'exit' alone, its last writes raced the removal
    if (refusal) die(refusal);
  }
}

function readArgs(argv: string[]): { url: string; out: string; samples: number } {
  const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' }, samples: { type: 'string' } }, { positionals: true });
  if (positionals.length !== 1) return fail(`expected the page's URL, got ${positionals.length} arguments`);
  const [url] = positionals;
  if (!URL.canParse(url) || new URL(url).protocol !== 'http:') return fail(`expected an http:// URL, got ${JSON.stringify(url)}`);
  const samples = values.samples ?? String(defaults.samples);
  if (!/^\d{1,2}$/.test(samples) || Number(samples) > defaults.maxSamples) return fail(`--samples must be a whole number from 0 to ${defaults.maxSamples}, got ${JSON.stringify(samples)}`);
  return { url, out: values.out ?? defaults.out, samples: Number(samples) };
}

// A page or a browser that is not there: one line, exit 1 (playwright's exit hook closes the browser).
function die(line: string): never {
  console.error(`screenshot: ${line}`);
  process.exit(1);
}
