// Lesson 10: more than one machine. Makes `--hosts N` hosts (network namespaces, each with an address
// of its own and lesson 07's cluster in it) and puts nginx in front of them on 127.0.0.1: it spreads
// requests over the hosts, routes around a dead one and retries its GETs on another.
// Run it:  sudo npx tsx lessons/10-many-machines/hosts.ts     (no root? add --local: hosts as ports)
// then:    curl -i http://127.0.0.1:8080/      (x-host says which host, x-worker-pid which worker)

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../lib/launch.ts';
import { commandLine, wholeNumber } from '../../lib/options.ts';

const defaults = {
  hostCount: 3,
  maxHosts: 16, // each host is a whole cluster: more than this on one machine is a typo
  frontPort: 8080, // nginx listens on 127.0.0.1:8080 (PORT=... to choose another)
  hostPort: 3000, // each host listens on its own address, so all of them can use port 3000, like real machines
  // Namespaces, veths and the temporary folder are named ec10-<pid of the run>-..., so that a run can
  // tell its own things from those a killed run left behind, and clean the latter up.
  prefix: 'ec10-',
  subnet: '10.210', // the hosts get a free 10.210.X.0/24, one /30 (two addresses: this machine, the host) each
  readyMs: 60_000, // each cluster must be ready by then: several start at once on a busy machine
  stopMs: 15_000, // a cluster or nginx still running this long after it was asked to stop gets SIGKILL
  primaryFile: fileURLToPath(new URL('../07-zero-downtime/primary.ts', import.meta.url)),
};

const usage = `Usage: [sudo] npx tsx lessons/10-many-machines/hosts.ts [--hosts N] [--local]

  --hosts N   how many hosts, each running lesson 07's cluster (default ${defaults.hostCount}, at most ${defaults.maxHosts})
  --local     hosts as ports on 127.0.0.1 instead of network namespaces: needs no root, only nginx
  PORT=...    nginx's port on 127.0.0.1 (default ${defaults.frontPort}); WORKERS=... workers per host`;

interface Host {
  name: string; // host1, host2, ...
  namespace?: string; // ec10-<pid>-<n>, also the name of this machine's end of its veth; none with --local
  address: string;
  port: number;
  cluster?: ChildProcess; // lesson 07's primary
}

const options = readOptions(process.argv.slice(2));
const tools = findTools(options.isLocal);
const frontPort = readPort(process.env.PORT);
const stopping = new AbortController();
const run = { hosts: [] as Host[], dir: '', nginx: undefined as ChildProcess | undefined, isUp: false, exitCode: 0 };

// `on`, not `once`: a second Ctrl+C (tsx re-sends one) must not cut the teardown short.
process.on('SIGINT', () => requestStop('SIGINT', 0));
process.on('SIGTERM', () => requestStop('SIGTERM', 0));
try {
  await cleanLeftovers();
  await bringUp();
  announce();
  run.isUp = true;
  await once(stopping.signal, 'abort');
} catch (error) {
  if (!stopping.signal.aborted) {
    run.exitCode = 1;
    logError(`cannot start: ${(error as Error).message}`);
  }
}
await tearDown();
process.exit(run.exitCode);

// ---- Up: a folder, the hosts, a cluster on each, nginx in front ----

async function bringUp(): Promise<void> {
  run.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${defaults.prefix}${process.pid}-`));
  fs.chmodSync(run.dir, 0o755); // nginx's workers run as an unprivileged user and read their temp paths here
  const subnet = options.isLocal ? '' : await freeSubnet();
  for (let n = 1; n <= options.hostCount; n++) {
    checkNotStopping();
    const host = options.isLocal ? await localHost(n) : namespaceHost(n, subnet);
    run.hosts.push(host); // before it is made, so that a failure half-way still removes it
    if (host.namespace) await makeNamespace(host, subnet, n);
  }
  writeState();
  await Promise.all(run.hosts.map(startCluster));
  checkNotStopping();
  await startNginx();
}

function namespaceHost(n: number, subnet: string): Host {
  const namespace = `${defaults.prefix}${process.pid}-${n}`;
  return { name: `host${n}`, namespace, address: `${subnet}.${4 * (n - 1) + 2}`, port: defaults.hostPort };
}

async function localHost(n: number): Promise<Host> {
  return { name: `host${n}`, address: '127.0.0.1', port: await freePort() };
}

// A host: a network namespace (its own interfaces, addresses, ports), joined to this machine by a
// veth pair, a virtual cable: this machine's end is x.x.x.1/30, the host's end (eth0 inside) x.x.x.2/30.
async function makeNamespace(host: Host, subnet: string, n: number): Promise<void> {
  const ns = host.namespace!;
  await ip('netns', 'add', ns);
  await ip('link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  await ip('addr', 'add', `${subnet}.${4 * (n - 1) + 1}/30`, 'dev', ns);
  await ip('link', 'set', ns, 'up');
  await ip('-n', ns, 'addr', 'add', `${host.address}/30`, 'dev', 'eth0');
  await ip('-n', ns, 'link', 'set', 'eth0', 'up');
  await ip('-n', ns, 'link', 'set', 'lo', 'up');
}

// Lesson 07's primary, run as a process (never imported), by the runtime running this file, inside
// the host's namespace, listening on the host's address: lesson 01's server reads HOST and PORT.
async function startCluster(host: Host): Promise<void> {
  const command = [process.execPath, ...process.execArgv, defaults.primaryFile];
  const [file, ...args] = host.namespace ? [tools.ip!, 'netns', 'exec', host.namespace, ...command] : command;
  const env = { ...process.env, HOST: host.address, PORT: String(host.port) };
  const cluster = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  host.cluster = cluster;
  const lines = relay(cluster, host.name);
  cluster.once('exit', (code, signal) => {
    if (run.isUp && !stopping.signal.aborted) log(`${host.name} is down: its cluster exited (${how(code, signal)}); nginx routes around it`);
  });
  writeState();
  await waitForLine(cluster, lines, /cluster ready/, `${host.name}'s cluster`);
}

async function startNginx(): Promise<void> {
  const config = path.join(run.dir, 'nginx.conf');
  fs.writeFileSync(config, nginxConfig());
  // -e: where nginx writes the errors it meets before it has read the config (nginx 1.19.5 and later)
  const errorLog = (await nginxVersion()) >= 1_019_005 ? ['-e', 'stderr'] : [];
  run.nginx = spawn(tools.nginx!, ['-p', run.dir, '-c', config, ...errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  relay(run.nginx, 'nginx');
  run.nginx.once('exit', (code, signal) => {
    if (run.isUp) requestStop(`nginx exited (${how(code, signal)})`, 1);
  });
  await everyHostAnswers();
}

// The whole path, checked end to end: requests through nginx until each host has answered one.
async function everyHostAnswers(): Promise<void> {
  const deadline = Date.now() + defaults.readyMs;
  const seen = new Set<string>();
  while (seen.size < run.hosts.length) {
    checkNotStopping();
    if (run.nginx!.exitCode !== null) throw new Error('nginx exited at start: its lines above say why');
    if (Date.now() > deadline) throw new Error(`through nginx, only ${[...seen].join(', ') || 'no host'} answered in ${defaults.readyMs / 1000} s`);
    const host = await hostAnswering(`http://127.0.0.1:${frontPort}/`);
    if (host) seen.add(host);
    else await new Promise((resolve) => setTimeout(resolve, 50)); // nginx not listening yet
  }
}

function hostAnswering(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-host']) : undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

function announce(): void {
  for (const host of run.hosts) {
    const where = host.namespace ? `in namespace ${host.namespace}` : 'on this machine';
    const pid = host.cluster!.pid;
    log(`${host.name}: http://${host.address}:${host.port} ${where}, primary ${pid} (kill -USR2 ${pid} rolls this host)`);
  }
  log(`front: http://127.0.0.1:${frontPort}`);
}

// ---- nginx's config, generated into the run's own folder: nothing of the system's nginx is used ----

function nginxConfig(): string {
  const dir = run.dir;
  const servers = run.hosts.map((host) => `    server ${host.address}:${host.port} max_fails=1 fail_timeout=5s;`);
  // $upstream_addr lists every address a request tried ("a:3000, b:3000" after a retry): the last one answered.
  const names = run.hosts.map((host) => `    ~${host.address.replaceAll('.', '\\.')}:${host.port}$ ${host.name};`);
  return `# Generated by lessons/10-many-machines/hosts.ts for one run; removed when it stops.
daemon off;
worker_processes auto;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log stderr warn;
events { worker_connections 1024; }

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  map $upstream_addr $answering_host {
${names.join('\n')}
    default none;
  }

  upstream hosts {
    zone hosts 64k; # one view of which hosts are down, shared by nginx's workers
${servers.join('\n')}
    keepalive 32; # idle connections kept open to the hosts, per nginx worker
    keepalive_timeout 4s; # below Node's 5 s, so nginx never reuses a connection the host is closing
  }

  server {
    listen 127.0.0.1:${frontPort};
    location / {
      proxy_pass http://hosts;
      proxy_http_version 1.1; # keep-alive to the hosts needs HTTP/1.1...
      proxy_set_header Connection ""; # ...and no "Connection: close" passed on
      # A GET or HEAD that fails on one host is tried on the next; a POST that reached a host is not.
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_timeout 10s;
      proxy_connect_timeout 2s;
      add_header x-host $answering_host always;
      add_header x-upstream-addr $upstream_addr always;
    }
  }
}
`;
}

// ---- Down: nginx first (no new requests), then each cluster (they drain), then the namespaces ----

function requestStop(reason: string, exitCode: number): void {
  if (stopping.signal.aborted) return;
  run.exitCode = exitCode;
  (exitCode === 0 ? log : logError)(`${reason}: stopping nginx, then every host's cluster, then the hosts`);
  stopping.abort();
}

async function tearDown(): Promise<void> {
  await stopProcess(run.nginx, 'SIGQUIT'); // nginx's graceful stop: finish the requests it holds
  await Promise.all(run.hosts.map((host) => stopProcess(host.cluster, 'SIGTERM')));
  for (const host of run.hosts) if (host.namespace) await removeNamespace(host.namespace);
  if (run.dir) fs.rmSync(run.dir, { recursive: true, force: true });
  log('stopped: nothing of this run is left');
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), defaults.stopMs).unref();
  await exited;
  clearTimeout(timer);
}

// Whatever still runs inside is killed; this machine's end of the veth takes the host's end with it.
async function removeNamespace(ns: string): Promise<void> {
  await killAll(await namespacePids(ns));
  await ip('link', 'delete', ns).catch(() => undefined);
  await ip('netns', 'delete', ns).catch(() => undefined);
}

// ---- What a killed run left behind: found by name, removed if that run no longer runs ----

async function cleanLeftovers(): Promise<void> {
  const left = new Map<number, string[]>(); // owner pid -> what it left
  const note = (name: string) => {
    const owner = Number(name.slice(defaults.prefix.length).split('-')[0]);
    if (isOurs(name) && !isRunning(owner)) left.set(owner, [...(left.get(owner) ?? []), name]);
  };
  if (!options.isLocal) (await ip('netns', 'list')).split('\n').forEach((line) => note(line.split(' ')[0]));
  if (!options.isLocal) (await ip('-o', 'link', 'show')).split('\n').forEach((line) => note(line.split(/[:@]/)[1]?.trim() ?? ''));
  fs.readdirSync(os.tmpdir()).forEach(note);
  for (const [owner, names] of left) {
    log(`cleaning up after run ${owner}, which is no longer running: ${[...new Set(names)].join(', ')}`);
    for (const name of new Set(names)) await removeLeftover(name);
  }
}

async function removeLeftover(name: string): Promise<void> {
  const dir = path.join(os.tmpdir(), name);
  if (!fs.existsSync(dir)) return removeNamespace(name);
  const { clusterPids, nginxPid } = readState(dir);
  // SIGTERM: its nginx stops its own workers, its clusters stop theirs.
  await killAll(nginxPid === undefined ? clusterPids : [...clusterPids, nginxPid], 'SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
}

function writeState(): void {
  const clusterPids = run.hosts.flatMap((host) => (host.cluster?.pid ? [host.cluster.pid] : []));
  fs.writeFileSync(path.join(run.dir, 'state.json'), JSON.stringify({ clusterPids }));
}

function readState(dir: string): { clusterPids: number[]; nginxPid?: number } {
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  // Only pids that still run what that run started: a pid is reused once its process is gone.
  const clusterPids = tryOr(() => JSON.parse(read('state.json')).clusterPids as number[], []);
  const nginxPid = tryOr(() => Number(read('nginx.pid').trim()), 0);
  return {
    clusterPids: clusterPids.filter((pid) => commandOf(pid).includes(defaults.primaryFile)),
    nginxPid: nginxPid > 0 && commandOf(nginxPid).includes(dir) ? nginxPid : undefined,
  };
}

function isOurs(name: string): boolean {
  return new RegExp(`^${defaults.prefix}\\d+-`).test(name);
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // A pid is reused once its process is gone: the owner runs only if it still runs this file.
  return process.platform !== 'linux' || commandOf(pid).includes('10-many-machines');
}

function commandOf(pid: number): string {
  return tryOr(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '), '');
}

async function killAll(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  for (const pid of pids) tryOr(() => process.kill(pid, signal), undefined);
  const deadline = Date.now() + defaults.stopMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return killAll(pids.filter(isAlive), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 25)); // no event tells another process's death
  }
}

function isAlive(pid: number): boolean {
  const stat = tryOr(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), '');
  if (process.platform === 'linux') return stat !== '' && !/^\d+ \(.*\) Z/.test(stat); // a zombie is gone
  return tryOr(() => process.kill(pid, 0), false) !== false;
}

async function namespacePids(ns: string): Promise<number[]> {
  const out = await ip('netns', 'pids', ns).catch(() => '');
  return out.split('\n').filter(Boolean).map(Number);
}

// ---- Addresses: a /24 nothing on this machine uses yet ----

async function freeSubnet(): Promise<string> {
  const routes = JSON.parse(await ip('-j', '-4', 'route', 'show', 'table', 'all')) as { dst: string }[];
  const addresses = JSON.parse(await ip('-j', '-4', 'addr')) as { addr_info: { local: string; prefixlen: number }[] }[];
  const used = [
    ...routes.filter((route) => route.dst !== 'default').map((route) => route.dst),
    ...addresses.flatMap((link) => link.addr_info.map((info) => `${info.local}/${info.prefixlen}`)),
  ];
  for (let i = 0; i < 256; i++) {
    const subnet = `${defaults.subnet}.${(process.pid + i) % 256}`; // runs side by side start apart
    if (!used.some((cidr) => overlaps(`${subnet}.0/24`, cidr))) return subnet;
  }
  throw new Error(`every /24 in ${defaults.subnet}.0.0/16 is in use on this machine (ip route): free one`);
}

function overlaps(a: string, b: string): boolean {
  const [addressA, bitsA = '32'] = a.split('/');
  const [addressB, bitsB = '32'] = b.split('/');
  const bits = Math.min(Number(bitsA), Number(bitsB));
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toNumber(addressA) & mask) >>> 0) === ((toNumber(addressB) & mask) >>> 0);
}

function toNumber(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

// ---- Small tools ----

function ip(...args: string[]): Promise<string> {
  return promisify(execFile)(tools.ip!, args).then(
    ({ stdout }) => stdout,
    (error) => Promise.reject(new Error(`ip ${args.join(' ')}: ${String(error.stderr || error.message).trim()}`)),
  );
}

async function nginxVersion(): Promise<number> {
  const { stderr } = await promisify(execFile)(tools.nginx!, ['-v']);
  const [, major, minor, patch] = stderr.match(/\/(\d+)\.(\d+)\.(\d+)/) ?? ['', '0', '0', '0'];
  return Number(major) * 1_000_000 + Number(minor) * 1_000 + Number(patch);
}

// Every line a child prints, prefixed with who printed it; also handed to waitForLine.
function relay(child: ChildProcess, label: string): EventEmitter {
  const lines = new EventEmitter();
  for (const [stream, write] of [[child.stdout!, console.log], [child.stderr!, console.error]] as const) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      write(`[${label}] ${line}`);
      lines.emit('line', line);
    });
  }
  return lines;
}

function waitForLine(child: ChildProcess, lines: EventEmitter, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      lines.off('line', onLine);
      child.off('exit', onExit);
      stopping.signal.removeEventListener('abort', onStop);
      if (error) reject(error);
      else resolve();
    };
    const onLine = (line: string) => pattern.test(line) && settle();
    const onExit = (code: number | null, signal: string | null) => settle(new Error(`${what} exited before it was ready (${how(code, signal)}): its lines above say why`));
    const onStop = () => settle(new Error('stopped'));
    const timer = setTimeout(() => settle(new Error(`${what} was not ready after ${defaults.readyMs / 1000} s`)), defaults.readyMs);
    lines.on('line', onLine);
    child.once('exit', onExit);
    stopping.signal.addEventListener('abort', onStop);
  });
}

function checkNotStopping(): void {
  if (stopping.signal.aborted) throw new Error('stopped');
}

function how(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

function tryOr<T, F>(action: () => T, fallback: F): T | F {
  try {
    return action();
  } catch {
    return fallback;
  }
}

function log(line: string): void {
  console.log(`[hosts ${process.pid}] ${line}`);
}

function logError(line: string): void {
  console.error(`[hosts ${process.pid}] ${line}`);
}

// ---- Before anything starts: the options, and the tools this needs ----

function readOptions(argv: string[]): { hostCount: number; isLocal: boolean } {
  const { values } = commandLine('hosts', usage).parse(argv, { hosts: { type: 'string' }, local: { type: 'boolean' } });
  const hostCount = values.hosts === undefined ? defaults.hostCount : wholeNumber('--hosts', values.hosts, usageError, defaults.maxHosts);
  return { hostCount, isLocal: values.local === true };
}

function findTools(isLocal: boolean): { nginx?: string; ip?: string } {
  const tools = { nginx: process.env.NGINX || findExecutable('nginx'), ip: findExecutable('ip') };
  const missing: string[] = [];
  if (!isLocal && process.platform !== 'linux') missing.push('Linux (network namespaces are a Linux feature)');
  if (!isLocal && process.getuid?.() !== 0) missing.push('root (to make network namespaces: run it with sudo)');
  if (!isLocal && !tools.ip) missing.push('ip (sudo apt-get install iproute2)');
  if (!tools.nginx || !isExecutable(tools.nginx)) missing.push(`nginx${process.env.NGINX ? ` at NGINX=${process.env.NGINX}` : ''} (sudo apt-get install nginx, or brew install nginx)`);
  if (missing.length === 0) return tools;
  console.error(`hosts: missing ${missing.join(', ')}${isLocal ? '' : '; or try --local, which needs only nginx'}`);
  process.exit(1);
}

// The sbin folders too: a user's PATH often leaves them out, and that is where nginx and ip live.
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => path.join(dir, name)).find(isExecutable);
}

function isExecutable(file: string): boolean {
  return tryOr(() => fs.statSync(file).isFile() && (fs.accessSync(file, fs.constants.X_OK), true), false);
}

function readPort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaults.frontPort;
  if (/^\d{1,5}$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 65_535) return Number(raw);
  console.error(`hosts: PORT must be a whole number from 1 to 65535, got ${JSON.stringify(raw)}: try PORT=${defaults.frontPort}`);
  process.exit(1);
}

function usageError(problem: string): never {
  return commandLine('hosts', usage).fail(problem);
}
