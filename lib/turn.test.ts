import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { takeTurn } from './harness.ts';

// A name of this run's own: another suite on the machine runs this file too.
const name = () => `turn-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
const options = { skip: process.platform === 'linux' ? false : 'an abstract socket is a Linux feature', timeout: 5_000 };

// Each test has a turn of its own: they run side by side.
describe("takeTurn(): one suite at a time on this machine's shared subjects", { concurrency: true }, () => {
  test('a second taker waits until the first releases its turn', options, async () => {
    const turn = name();
    const release = await takeTurn(turn);
    const order: string[] = [];
    const second = takeTurn(turn).then((releaseSecond) => (order.push('second has it'), releaseSecond));
    await new Promise((resolve) => setTimeout(resolve, 100));
    order.push('first releases');
    await release();
    await (await second)();
    assert.deepEqual(order, ['first releases', 'second has it']);
  });

  test('a taker that waits longer than its limit fails, saying what held it', options, async () => {
    const turn = name();
    const release = await takeTurn(turn);
    await assert.rejects(takeTurn(turn, 100), new RegExp(`^Error: ${turn}: another suite on this machine held it for 100 ms$`));
    await release();
  });

  test('a turn whose holder was killed with SIGKILL is free at once: nothing is left behind', options, async () => {
    const turn = name();
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen('\\0every-core-${turn}', () => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    await assert.rejects(takeTurn(turn, 0), /held it for 0 ms/);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    await (await takeTurn(turn, 0))();
  });
});
