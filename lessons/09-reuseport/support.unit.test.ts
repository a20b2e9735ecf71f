import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { hasReusePort, isBun, reusePortProblem } from './support.ts';

// Stands in for this runtime's system or version for one test.
function pretend(t: TestContext, object: object, key: string, value: string): void {
  const original = Object.getOwnPropertyDescriptor(object, key)!;
  Object.defineProperty(object, key, { ...original, value });
  t.after(() => Object.defineProperty(object, key, original));
}

const oldNodeMessage = (version: string) =>
  `listen() has reusePort since Node 22.12 (and 23.1); this is Node ${version}: ` +
  'run it with Node 22.12 or later, e.g. npx --yes node@22 --import tsx lessons/09-reuseport/primary.ts';

describe("lesson 09's version gate: listen()'s reusePort", () => {
  test('the first releases that have it pass: 22.12 and 23.1, and every later major', () => {
    for (const version of ['22.12.0', '22.23.3', '23.1.0', '23.11.1', '24.0.0', '26.10.0', '30.0.0']) {
      assert.equal(hasReusePort(version), true, version);
    }
  });

  test('the releases just before them do not: 22.11 and 23.0, and every earlier major', () => {
    for (const version of ['22.11.0', '22.0.0', '23.0.0', '21.99.0', '20.20.2', '18.20.0']) {
      assert.equal(hasReusePort(version), false, version);
    }
  });

  test('on another system the problem names it and says to run on Linux', (t) => {
    pretend(t, process, 'platform', 'darwin');
    assert.equal(reusePortProblem(), 'darwin does not spread connections over SO_REUSEPORT sockets as Linux does: run this lesson on Linux');
  });

  const onBun = isBun && 'Bun: every version has reusePort, so there is no Node version to gate';
  test('on Linux with a Node before 22.12 the problem names the version and the Node to use', { skip: onBun }, (t) => {
    pretend(t, process, 'platform', 'linux');
    pretend(t, process.versions, 'node', '22.11.0');
    assert.equal(reusePortProblem(), oldNodeMessage('22.11.0'));
  });

  test('on Linux with Node 22.12 or later there is no problem', { skip: onBun }, (t) => {
    pretend(t, process, 'platform', 'linux');
    pretend(t, process.versions, 'node', '22.12.0');
    assert.equal(reusePortProblem(), undefined);
  });

  test('Bun on Linux has no problem, whatever Node version it reports', { skip: !isBun && 'Node: the gate is its version' }, (t) => {
    pretend(t, process, 'platform', 'linux');
    pretend(t, process.versions, 'node', '20.0.0');
    assert.equal(reusePortProblem(), undefined);
  });
});
