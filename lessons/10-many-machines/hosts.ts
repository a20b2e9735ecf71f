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
import { commandOf, findExecutable, freePort, isAlive, isExecutable, runs } from '../../lib/launch.ts';
import { commandLine, port, wholeNumber, type Fail } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';

export const defaults = {
  hostCount: 3,
  maxHosts: 16, // each host is a whole cluster: more than this on one machine is a typo
  frontPort: 8080, // nginx listens on 127.0.0.1:8080 (PORT=... to choose another)
  hostPort: 3000, // each host listens on its own address, so all of them can use port 3000, like real machines
  // nginx ends a client's connection after this many requests (its own default is 1000): more than
  // any run of lesson 02's load test sends on one connection (see "What nginx was doing" in the README).
  requestsPerClientConnection: 1_000_000_000,
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

export interface Options {
  hostCount: number;
  isLocal: boolean;
}

interface Tools {
  nginx?: string;
  ip?: string;
}

export interface Host {
  name: string; // host1, host2, ...
  namespace?: string; // ec10-<pid>-<n>, also the name of this machine's end of its veth; none with --local
  address: string;
  port: number;
  cluster?: ChildProcess; // lesson 07's primary
}

// Run as a program (the guard is the file's last line, once the Run class below is defined), it
// brings the hosts up until Ctrl+C; the tests import its decisions.
async function main(argv: string[]): Promise<void> {
  const options = readOptions(argv);
  const tools = findTools(options.isLocal);
  const run = new Run(options, tools, readPort(process.env.PORT));
  // `on`, not `once`: a second Ctrl+C (tsx re-sends one) must not cut the teardown short. SIGHUP: a
  // closed terminal stops the run too, rather than leaving its hosts behind.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => run.requestStop(signal, 0));
  process.exit(await run.start());
}

// One run: its hosts, its folder and its nginx, brought up in start() and all removed before it returns.
class Run {
  readonly options: Options;
  readonly tools: Tools;
  readonly frontPort: number;
  readonly stopping = new AbortController();
  hosts: Host[] = [];
  dir = '';
  nginx: ChildProcess | undefined;
  isUp = false;
  exitCode = 0;

  constructor(options: Options, tools: Tools, frontPort: number) {
    this.options = options;
    this.tools = tools;
    this.frontPort = frontPort;
  }

  // Up until asked to stop, then down; the exit code.
  async start(): Promise<number> {
    try {
      await this.cleanLeftovers();
      await this.bringUp();
      this.announce();
      this.isUp = true;
      await once(this.stopping.signal, 'abort');
    } catch (error) {
      if (!this.stopping.signal.aborted) {
        this.exitCode = 1;
        logError(`cannot start: ${(error as Error).message}`);
      }
    }
    await this.tearDown();
    return this.exitCode;
  }

  requestStop(reason: string, exitCode: number): void {
    if (this.stopping.signal.aborted) return;
    this.exitCode = exitCode;
    (exitCode === 0 ? log : logError)(`${reason}: stopping nginx, then every host's cluster, then the hosts`);
    this.stopping.abort();
  }

  // ---- Up: a folder, the hosts, a cluster on each, nginx in front ----

  private async bringUp(): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${defaults.prefix}${process.pid}-`));
    fs.chmodSync(this.dir, 0o755); // nginx's workers run as an unprivileged user and read their temp paths here
    const subnet = this.options.isLocal ? '' : await freeSubnet(this.tools.ip!);
    for (let n = 1; n <= this.options.hostCount; n++) {
      this.checkNotStopping();
      const host = this.options.isLocal ? await localHost(n) : namespaceHost(n, subnet);
      this.hosts.push(host); // before it is made, so that a failure half-way still removes it
      if (host.namespace) await makeNamespace(this.tools.ip!, host, subnet, n);
    }
    this.writeState();
    await Promise.all(this.hosts.map((host) => this.startCluster(host)));
    this.checkNotStopping();
    await this.startNginx();
  }

  // Lesson 07's primary, run as a process (never imported), by the runtime running this file, inside
  // the host's namespace, listening on the host's address: lesson 01's server reads HOST and PORT.
  private async startCluster(host: Host): Promise<void> {
    const command = [process.execPath, ...process.execArgv, defaults.primaryFile];
    const [file, ...args] = host.namespace ? [this.tools.ip!, 'netns', 'exec', host.namespace, ...command] : command;
    const env = { ...process.env, HOST: host.address, PORT: String(host.port) };
    const cluster = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    host.cluster = cluster;
    const lines = relay(cluster, host.name);
    cluster.once('exit', (code, signal) => {
      if (this.isUp && !this.stopping.signal.aborted) log(`${host.name} is down: its cluster exited (${how(code, signal)}); nginx routes around it`);
    });
    this.writeState();
    await this.waitForLine(cluster, lines, /cluster ready/, `${host.name}'s cluster`);
  }

  private async startNginx(): Promise<void> {
    const config = path.join(this.dir, 'nginx.conf');
    fs.writeFileSync(config, nginxConfig({ dir: this.dir, frontPort: this.frontPort, hosts: this.hosts }));
    // -e: where nginx writes the errors it meets before it has read the config (nginx 1.19.5 and later)
    const errorLog = (await nginxVersion(this.tools.nginx!)) >= 1_019_005 ? ['-e', 'stderr'] : [];
    this.nginx = spawn(this.tools.nginx!, ['-p', this.dir, '-c', config, ...errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
    relay(this.nginx, 'nginx');
    this.nginx.once('exit', (code, signal) => {
      if (this.isUp) this.requestStop(`nginx exited (${how(code, signal)})`, 1);
    });
    await this.everyHostAnswers();
  }

  // The whole path, checked end to end: requests through nginx until each host has answered one.
  private async everyHostAnswers(): Promise<void> {
    const deadline = Date.now() + defaults.readyMs;
    const seen = new Set<string>();
    while (seen.size < this.hosts.length) {
      this.checkNotStopping();
      if (this.nginx!.exitCode !== null) throw new Error('nginx exited at start: its lines above say why');
      if (Date.now() > deadline) throw new Error(`through nginx, only ${[...seen].join(', ') || 'no host'} answered in ${defaults.readyMs / 1000} s`);
      const host = await hostAnswering(`http://127.0.0.1:${this.frontPort}/`);
      if (host) seen.add(host);
      else await new Promise((resolve) => setTimeout(resolve, 50)); // nginx not listening yet
    }
  }

  private announce(): void {
    for (const host of this.hosts) {
      const where = host.namespace ? `in namespace ${host.namespace}` : 'on this machine';
      const pid = host.cluster!.pid;
      log(`${host.name}: http://${host.address}:${host.port} ${where}, primary ${pid} (kill -USR2 ${pid} rolls this host)`);
    }
    log(`front: http://127.0.0.1:${this.frontPort}`);
  }

  // ---- Down: nginx first (no new requests), then each cluster (they drain), then the namespaces ----

  private async tearDown(): Promise<void> {
    await stopProcess(this.nginx, 'SIGQUIT'); // nginx's graceful stop: finish the requests it holds
    await Promise.all(this.hosts.map((host) => stopProcess(host.cluster, 'SIGTERM')));
    for (const host of this.hosts) if (host.namespace) await removeNamespace(this.tools.ip!, host.namespace);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    log('stopped: nothing of this run is left');
  }

  // ---- What a killed run left behind: found by name, removed if that run no longer runs ----

  private async cleanLeftovers(): Promise<void> {
    const names: string[] = [];
    if (!this.options.isLocal) names.push(...(await namespaceNames(this.tools.ip!)));
    names.push(...fs.readdirSync(os.tmpdir()));
    for (const [owner, left] of leftBehind(names, (pid) => runs(pid, '10-many-machines'))) {
      log(`cleaning up after run ${owner}, which is no longer running: ${left.join(', ')}`);
      for (const name of left) await this.removeLeftover(name);
    }
  }

  private async removeLeftover(name: string): Promise<void> {
    const dir = path.join(os.tmpdir(), name);
    if (!fs.existsSync(dir)) return removeNamespace(this.tools.ip!, name);
    const { clusterPids, nginxPid } = readState(dir);
    // SIGTERM: its nginx stops its own workers, its clusters stop theirs.
    await killAll(nginxPid === undefined ? clusterPids : [...clusterPids, nginxPid], 'SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }

  private writeState(): void {
    const clusterPids = this.hosts.flatMap((host) => (host.cluster?.pid ? [host.cluster.pid] : []));
    fs.writeFileSync(path.join(this.dir, 'state.json'), JSON.stringify({ clusterPids }));
  }

  // ---- Small tools that need the run ----

  private waitForLine(child: ChildProcess, lines: EventEmitter, pattern: RegExp, what: string): Promise<void> {
    const stopping = this.stopping.signal;
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        lines.off('line', onLine);
        child.off('exit', onExit);
        stopping.removeEventListener('abort', onStop);
        if (error) reject(error);
        else resolve();
      };
      const onLine = (line: string) => pattern.test(line) && settle();
      const onExit = (code: number | null, signal: string | null) => settle(new Error(`${what} exited before it was ready (${how(code, signal)}): its lines above say why`));
      const onStop = () => settle(new Error('stopped'));
      const timer = setTimeout(() => settle(new Error(`${what} was not ready after ${defaults.readyMs / 1000} s`)), defaults.readyMs);
      lines.on('line', onLine);
      child.once('exit', onExit);
      stopping.addEventListener('abort', onStop);
    });
  }

  private checkNotStopping(): void {
    if (this.stopping.signal.aborted) throw new Error('stopped');
  }
}

// ---- Hosts as network namespaces: made, found and removed by name (lesson 12's job hosts are these too) ----

// `prefix`: whose they are (lesson 12 names its own ec12-...), so that a run cleans up only its lesson's.
export function namespaceHost(n: number, subnet: string, prefix = defaults.prefix): Host {
  const namespace = `${prefix}${process.pid}-${n}`;
  return { name: `host${n}`, namespace, address: `${subnet}.${4 * (n - 1) + 2}`, port: defaults.hostPort };
}

// A host: a network namespace (its own interfaces, addresses, ports), joined to this machine by a
// veth pair, a virtual cable: this machine's end is x.x.x.1/30, the host's end (eth0 inside) x.x.x.2/30.
export async function makeNamespace(ip: string, host: Host, subnet: string, n: number): Promise<void> {
  const ns = host.namespace!;
  await runIp(ip, 'netns', 'add', ns);
  await runIp(ip, 'link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  await runIp(ip, 'addr', 'add', `${subnet}.${4 * (n - 1) + 1}/30`, 'dev', ns);
  await runIp(ip, 'link', 'set', ns, 'up');
  await runIp(ip, '-n', ns, 'addr', 'add', `${host.address}/30`, 'dev', 'eth0');
  await runIp(ip, '-n', ns, 'link', 'set', 'eth0', 'up');
  await runIp(ip, '-n', ns, 'link', 'set', 'lo', 'up');
}

// Whatever still runs inside is killed; this machine's end of the veth takes the host's end with it.
export async function removeNamespace(ip: string, ns: string): Promise<void> {
  const pids = await runIp(ip, 'netns', 'pids', ns).catch(() => '');
  await killAll(pids.split('\n').filter(Boolean).map(Number));
  await runIp(ip, 'link', 'delete', ns).catch(() => undefined);
  await runIp(ip, 'netns', 'delete', ns).catch(() => undefined);
}

// Every namespace and link on this machine, by name: leftBehind() picks a killed run's from them.
export async function namespaceNames(ip: string): Promise<string[]> {
  const namespaces = (await runIp(ip, 'netns', 'list')).split('\n').map((line) => line.split(' ')[0]);
  const links = (await runIp(ip, '-o', 'link', 'show')).split('\n').map((line) => line.split(/[:@]/)[1]?.trim() ?? '');
  return [...namespaces, ...links];
}

export async function freeSubnet(ip: string): Promise<string> {
  const routes = JSON.parse(await runIp(ip, '-j', '-4', 'route', 'show', 'table', 'all')) as { dst: string }[];
  const addresses = JSON.parse(await runIp(ip, '-j', '-4', 'addr')) as { addr_info: { local: string; prefixlen: number }[] }[];
  const used = [
    ...routes.filter((route) => route.dst !== 'default').map((route) => route.dst),
    ...addresses.flatMap((link) => link.addr_info.map((info) => `${info.local}/${info.prefixlen}`)),
  ];
  return pickSubnet(used, process.pid); // runs side by side start apart
}

function runIp(ip: string, ...args: string[]): Promise<string> {
  return promisify(execFile)(ip, args).then(
    ({ stdout }) => stdout,
    (error) => Promise.reject(new Error(`ip ${args.join(' ')}: ${String(error.stderr || error.message).trim()}`)),
  );
}

async function localHost(n: number): Promise<Host> {
  return { name: `host${n}`, address: '127.0.0.1', port: await freePort() };
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

// ---- nginx's config, generated into the run's own folder: nothing of the system's nginx is used ----

export function nginxConfig({ dir, frontPort, hosts }: { dir: string; frontPort: number; hosts: Pick<Host, 'name' | 'address' | 'port'>[] }): string {
  const servers = hosts.map((host) => `    server ${host.address}:${host.port} max_fails=1 fail_timeout=5s;`);
  // $upstream_addr lists every address a request tried ("a:3000, b:3000" after a retry): the last one answered.
  const names = hosts.map((host) => `    ~${host.address.replaceAll('.', '\\.')}:${host.port}$ ${host.name};`);
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
  # Nothing goes to those files: nginx's workers, an unprivileged user when nginx starts as root,
  # cannot write them where TMPDIR is a private folder (mode 700, as on macOS), and a request whose
  # body needed one got a 500. Bodies stay in memory, up to 16 KB (the lessons' largest is lesson
  # 11's 1 KB action; more is a 413); answers stream to the client instead of filling a file.
  client_max_body_size 16k;
  client_body_buffer_size 16k;
  proxy_max_temp_file_size 0;

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
    # A client's connection is closed after this many requests (nginx's default: 1000). A load tool
    # that writes its next request before it reads "Connection: close" (autocannon) loses that request.
    keepalive_requests ${defaults.requestsPerClientConnection};
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

// ---- What a killed run left behind, and the processes it still runs ----

// The names (namespaces, veths, folders) of runs that no longer run, by the pid of their run.
export function leftBehind(names: string[], isRunning: (pid: number) => boolean, prefix = defaults.prefix): Map<number, string[]> {
  const left = new Map<number, string[]>();
  for (const name of new Set(names)) {
    const owner = ownerOf(name, prefix);
    if (owner !== undefined && !isRunning(owner)) left.set(owner, [...(left.get(owner) ?? []), name]);
  }
  return left;
}

// ec10-<pid>-<anything>: the pid of the run that made it.
export function ownerOf(name: string, prefix = defaults.prefix): number | undefined {
  const match = new RegExp(`^${prefix}(\\d+)-.`).exec(name);
  return match ? Number(match[1]) : undefined;
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

async function killAll(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  for (const pid of pids) tryOr(() => process.kill(pid, signal), undefined);
  const deadline = Date.now() + defaults.stopMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return killAll(pids.filter(isAlive), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 25)); // no event tells another process's death
  }
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), defaults.stopMs).unref();
  await exited;
  clearTimeout(timer);
}

// ---- Addresses: a /24 nothing on this machine uses yet ----

// The first 10.210.X (X from `start`, wrapping around) whose /24 overlaps none of the `used` routes and addresses.
export function pickSubnet(used: string[], start: number): string {
  for (let i = 0; i < 256; i++) {
    const subnet = `${defaults.subnet}.${(start + i) % 256}`;
    if (!used.some((cidr) => overlaps(`${subnet}.0/24`, cidr))) return subnet;
  }
  throw new Error(`every /24 in ${defaults.subnet}.0.0/16 is in use on this machine (ip route): free one`);
}

// Whether two IPv4 networks (a.b.c.d/bits, or one address) share an address.
export function overlaps(a: string, b: string): boolean {
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

async function nginxVersion(nginx: string): Promise<number> {
  const { stderr } = await promisify(execFile)(nginx, ['-v']);
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

// `fail` says what is wrong with a value; by default it prints the usage and exits 2.
export function readOptions(argv: string[], fail: Fail = usageError): Options {
  const { values } = commandLine('hosts', usage).parse(argv, { hosts: { type: 'string' }, local: { type: 'boolean' } });
  const hostCount = values.hosts === undefined ? defaults.hostCount : wholeNumber('--hosts', values.hosts, fail, defaults.maxHosts);
  return { hostCount, isLocal: values.local === true };
}

function findTools(isLocal: boolean): Tools {
  const nginx = process.env.NGINX || findExecutable('nginx');
  const tools = { nginx: nginx && isExecutable(nginx) ? nginx : undefined, ip: findExecutable('ip') };
  const problem = missingTools(isLocal, { platform: process.platform, uid: process.getuid?.(), ...tools, nginxFromEnv: process.env.NGINX });
  if (!problem) return tools;
  console.error(problem);
  process.exit(1);
}

// What this machine lacks for this run, in one line with how to get it; undefined if nothing.
export function missingTools(isLocal: boolean, found: { platform: string; uid?: number; ip?: string; nginx?: string; nginxFromEnv?: string }): string | undefined {
  const missing: string[] = [];
  if (!isLocal && found.platform !== 'linux') missing.push('Linux (network namespaces are a Linux feature)');
  if (!isLocal && found.uid !== 0) missing.push('root (to make network namespaces: run it with sudo)');
  if (!isLocal && !found.ip) missing.push('ip (sudo apt-get install iproute2)');
  if (!found.nginx) missing.push(`nginx${found.nginxFromEnv ? ` at NGINX=${found.nginxFromEnv}` : ''} (sudo apt-get install nginx, or brew install nginx)`);
  if (missing.length === 0) return undefined;
  return `hosts: missing ${missing.join(', ')}${isLocal ? '' : '; or try --local, which needs only nginx'}`;
}

function readPort(raw: string | undefined): number {
  return port('PORT', raw, defaults.frontPort, (problem) => {
    console.error(`hosts: ${problem}`);
    process.exit(1);
  }, { min: 1 });
}

function usageError(problem: string): never {
  return commandLine('hosts', usage).fail(problem);
}

if (isMain(import.meta.url)) await main(process.argv.slice(2));
