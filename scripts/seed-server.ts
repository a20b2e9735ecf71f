// The yardstick for /heavy: the seed's server, its loop inline in the handler with a constant bound,
// and nothing else. scripts/heavy-cost.ts loads it beside lesson 01's server.
// Run it:  PORT=3001 npx tsx scripts/seed-server.ts       (stop it with Ctrl+C)

import http from 'node:http';

const port = Number(process.env.PORT || 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`seed-server: PORT must be a whole number from 0 to 65535, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  res.setHeader('x-worker-pid', process.pid);
  if (req.url !== '/heavy') return res.end(`Served by pid ${process.pid}\n`);
  let total = 0;
  for (let i = 0; i < 5_000_000; i++) {
    total++;
  }
  res.end(`The result of the CPU intensive task is ${total}\n`);
});
server.listen(port, '127.0.0.1', () => console.log(`[pid ${process.pid}] listening on http://127.0.0.1:${port}`));
