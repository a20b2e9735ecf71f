import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort, removeWhenGone, start } from '../lib/harness.ts';

const screenshot = 'scripts/screenshot.ts';
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const noChromium = existsSync(chromiumPath) ? false : `no Chromium at ${chromiumPath}: apt-get install chromium (Debian), or CHROMIUM=/path/to/chromium`;

describe("lesson 11's page, saved as a picture without a desktop (scripts/screenshot.ts)", () => {
  test('it saves a PNG of the live page, its table filled by the event stream, and refuses a page that answers 403', { skip: noChromium }, async (t) => {
    const dir = mkdtempSync(join(os.tmpdir(), 'every-core-screenshot-test-'));
    t.after(removeWhenGone(dir)); // a test run killed with kill -9: the guardian removes it
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const watchPort = await freePort();
    const cluster = await start(t, 'lessons/11-watch/primary.ts', { ready: /cluster ready/, env: { WORKERS: '1', WATCH_PORT: String(watchPort) } });
    const [, url] = await cluster.waitFor(/watch the cluster: (http:\/\/\S+)/);
    const out = join(dir, 'page.png');
    const run = await start(t, screenshot, { ready: false, args: [url, '--out', out, '--samples', '2'], limitMs: 120_000 });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    const [, samples] = run.output().match(new RegExp(`saved ${out}: 1 worker row, (\\d+) s of chart; 1 of 1 workers listening`)) ?? [];
    // 2, not 1: the table alone can be filled within the first second, before the chart's first sample.
    assert.ok(Number(samples) >= 2, `the picture was taken before the page was live, or before 2 s of chart: ${run.output()}`);
    assert.deepEqual([...readFileSync(out).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');

    // The browser profile it makes in the temporary folder must be gone once it exits, refused or
    // not (a profile removed before Chromium had exited was left half-written). Not a TMPDIR of the
    // test's own inside this one: Chromium puts a socket there, and a path past about 104 characters
    // (a deep TMPDIR: macOS's, the suite's bench) stops it at start.
    const profilesNow = () => readdirSync(os.tmpdir()).filter((name) => name.startsWith('every-core-screenshot-') && !name.startsWith('every-core-screenshot-test-'));
    const before = profilesNow();
    const wrongSecret = await start(t, screenshot, { ready: false, args: [url.replace(/secret=\w+/, 'secret=0'), '--out', join(dir, 'refused.png')], limitMs: 120_000 });
    assert.deepEqual(await wrongSecret.exited, { code: 1, signal: null });
    assert.match(wrongSecret.output(), /screenshot: the page answered 403: wrong secret/);
    assert.equal(existsSync(join(dir, 'refused.png')), false);
    const profiles = profilesNow().filter((name) => !before.includes(name));
    assert.deepEqual(profiles, [], 'the browser profile of the refused run is left');
  });

  test('a missing or bad URL, or a bad --samples, prints the usage and exits 2', async (t) => {
    for (const [args, message] of [[[], /expected the page's URL, got 0 arguments/], [['ftp://x'], /expected an http:\/\/ URL/], [['http://127.0.0.1:1/', '--samples', '61'], /--samples must be a whole number from 0 to 60/]] as const) {
      const run = await start(t, screenshot, { ready: false, args: [...args] });
      assert.deepEqual(await run.exited, { code: 2, signal: null }, run.output());
      assert.match(run.output(), message);
      assert.match(run.output(), /Usage: npx tsx scripts\/screenshot.ts <url>/);
    }
  });
});
