// End to end: the built exporter behind a web configuration file, driven by real clients — curl and
// Debian's Prometheus 2.42 (tls_config + basic_auth) — against certificates made with openssl and
// hashes made with htpasswd: TLS with basic auth, no plain HTTP, mutual TLS with and without a
// client certificate, certificate rotation while running. Then the server under abuse (bursts of
// concurrent scrapes, idle floods, slowloris, gzip) with its figures written to
// .tmp/http-figures.json; memory is asserted, times are only recorded.
//
// The TLS cases run in a fresh namespace (exporter and Prometheus on its loopback, curl inside it);
// the abuse cases run the exporter on the root namespace's 127.0.0.1 so the test process itself
// can open hundreds of connections.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, NODE, REPO, exporterEnv } from '../support/exporter.js';
import { Netns } from '../support/netns.js';
import { Prometheus, waitFor } from '../support/prometheus.js';
import { htpasswdHash, makePki, type Pki } from '../support/tls.js';

const PORT = 9469;
const PROM_PORT = 9090;
const PASSWORD = 'correct horse battery staple';

let ns: Netns;
let pki: Pki;
let hash: string;

beforeAll(async () => {
  ns = await Netns.create();
  pki = await makePki();
  hash = await htpasswdHash(PASSWORD, 10);
});
afterAll(async () => {
  await ns?.destroy();
  await pki?.remove();
});

interface Running {
  readonly child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts the exporter in `ns` and waits until `ready` (a curl command line inside ns) succeeds. */
async function startIn(env: Record<string, string>, ready: string[]): Promise<Running> {
  const child = ns.spawn(
    NODE,
    [CLI],
    exporterEnv({
      CONNTRACK_EXPORTER_LISTEN_ADDRESS: `127.0.0.1:${PORT}`,
      CONNTRACK_EXPORTER_LOG_LEVEL: 'info',
      ...env,
    }),
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(
    'the exporter to answer',
    async () => {
      if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${err}`);
      return ns.exec('curl', ['-sf', '--max-time', '2', ...ready]).then(() => true);
    },
    15_000,
    100,
  );
  return {
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** curl inside ns: HTTP status (0 when no HTTP answer), headers, body, exit code. */
async function curl(
  args: string[],
): Promise<{ status: number; headers: string; body: string; code: number }> {
  const marker = '\n--status--';
  // Headers go to stdout ahead of the body (Node's child stdio are sockets: /dev/stderr cannot be opened).
  const full = ['-sS', '--max-time', '5', '-D', '-', '-w', `${marker}%{http_code}`, ...args];
  const parse = (
    stdout: string,
    code: number,
  ): { status: number; headers: string; body: string; code: number } => {
    const [response = '', status = '0'] = stdout.split(marker);
    const cut = response.indexOf('\r\n\r\n');
    return {
      status: Number(status),
      headers: cut < 0 ? response : response.slice(0, cut),
      body: cut < 0 ? '' : response.slice(cut + 4),
      code,
    };
  };
  try {
    const { stdout } = await ns.exec('curl', full);
    return parse(stdout, 0);
  } catch (err) {
    const e = err as { stdout?: string; code?: number };
    return parse(e.stdout ?? '', typeof e.code === 'number' ? e.code : -1);
  }
}

const url = (path = '/metrics'): string => `https://localhost:${PORT}${path}`;
const resolve = ['--resolve', `localhost:${PORT}:127.0.0.1`];

describe('TLS and basic auth with real clients', () => {
  it('200 with the password, 401 + WWW-Authenticate: Basic without or with a wrong one, no plain HTTP, gzip, and Prometheus scrapes it (up = 1)', async () => {
    const web = pki.path('web-auth.yml');
    await writeFile(
      web,
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: ${hash}\n`,
    );
    const exporter = await startIn({ CONNTRACK_EXPORTER_WEB_CONFIG_FILE: web }, [
      '--cacert',
      pki.path('ca.crt'),
      ...resolve,
      url('/healthz'),
    ]);
    const prom = await Prometheus.start(ns, {
      port: PROM_PORT,
      target: `127.0.0.1:${PORT}`,
      job: 'secure',
      rules: 'groups: []\n',
      scrapeLines: [
        '    scheme: https',
        '    tls_config:',
        `      ca_file: ${pki.path('ca.crt')}`,
        '    basic_auth:',
        '      username: prometheus',
        `      password: ${JSON.stringify(PASSWORD)}`,
      ],
    });
    try {
      const tls = ['--cacert', pki.path('ca.crt'), ...resolve];
      const none = await curl([...tls, url()]);
      expect(none.status).toBe(401);
      expect(none.headers).toMatch(/^www-authenticate: Basic\r?$/im);
      const wrong = await curl([...tls, '-u', 'prometheus:wrong', url()]);
      expect(wrong.status).toBe(401);
      expect(wrong.headers).toMatch(/^www-authenticate: Basic\r?$/im);
      const right = await curl([...tls, '-u', `prometheus:${PASSWORD}`, url()]);
      expect(right.status).toBe(200);
      expect(right.body).toMatch(/^conntrack_entries \d+$/m);
      const gz = await curl([...tls, '-u', `prometheus:${PASSWORD}`, '--compressed', url()]);
      expect(gz.headers).toMatch(/^content-encoding: gzip\r?$/im);
      expect(gz.body).toMatch(/^conntrack_entries \d+$/m);
      // No plain HTTP on the port: curl gets no HTTP status at all.
      const plain = await curl([`http://127.0.0.1:${PORT}/metrics`]);
      expect(plain.status).toBe(0);
      expect(plain.code).not.toBe(0);

      const up = await waitFor(
        'Prometheus to scrape the TLS + basic-auth target',
        async () => {
          const [s] = await prom.query('up{job="secure"}');
          return s?.value[1] === '1' ? s : undefined;
        },
        20_000,
      );
      expect(up.metric.instance).toBe(`127.0.0.1:${PORT}`);
      const [entries] = await prom.query('conntrack_entries{job="secure"}');
      expect(entries).toBeDefined();
    } finally {
      await prom.stop();
      await exporter.stop();
    }
  });

  it('RequireAndVerifyClientCert: no certificate or one from another CA gets nothing, the CA-signed one 200; Prometheus with its client certificate scrapes', async () => {
    const web = pki.path('web-mtls.yml');
    await writeFile(
      web,
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n',
    );
    const client = ['--cert', pki.path('client.crt'), '--key', pki.path('client.key')];
    const tls = ['--cacert', pki.path('ca.crt'), ...resolve];
    const exporter = await startIn({ CONNTRACK_EXPORTER_WEB_CONFIG_FILE: web }, [
      ...tls,
      ...client,
      url('/healthz'),
    ]);
    const prom = await Prometheus.start(ns, {
      port: PROM_PORT,
      target: `localhost:${PORT}`,
      job: 'mtls',
      rules: 'groups: []\n',
      scrapeLines: [
        '    scheme: https',
        '    tls_config:',
        `      ca_file: ${pki.path('ca.crt')}`,
        `      cert_file: ${pki.path('client.crt')}`,
        `      key_file: ${pki.path('client.key')}`,
      ],
    });
    try {
      const without = await curl([...tls, url()]);
      expect(without.status).toBe(0);
      expect(without.code).not.toBe(0);
      const stranger = await curl([
        ...tls,
        '--cert',
        pki.path('stranger.crt'),
        '--key',
        pki.path('stranger.key'),
        url(),
      ]);
      expect(stranger.status).toBe(0);
      const signed = await curl([...tls, ...client, url()]);
      expect(signed.status).toBe(200);
      expect(signed.body).toMatch(/^conntrack_entries \d+$/m);
      await waitFor(
        'Prometheus to scrape with its client certificate',
        async () => ((await prom.query('up{job="mtls"}'))[0]?.value[1] === '1' ? true : undefined),
        20_000,
      );
    } finally {
      await prom.stop();
      await exporter.stop();
    }
  });

  it('a certificate rotated while running is served without a restart', async () => {
    await pki.issueServer('server-1');
    const web = pki.path('web-rotate.yml');
    await writeFile(web, 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n');
    const tls = ['--cacert', pki.path('ca.crt'), ...resolve];
    const exporter = await startIn({ CONNTRACK_EXPORTER_WEB_CONFIG_FILE: web }, [...tls, url('/healthz')]);
    const subject = async (): Promise<string> => {
      const { stderr } = await ns.exec('curl', [
        '-sv',
        '--max-time',
        '5',
        '-o',
        '/dev/null',
        ...tls,
        url('/healthz'),
      ]);
      return /subject: CN=([\w-]+)/.exec(stderr)?.[1] ?? '';
    };
    try {
      expect(await subject()).toBe('server-1');
      await pki.issueServer('server-2');
      await waitFor(
        'the rotated certificate',
        async () => ((await subject()) === 'server-2' ? true : undefined),
        10_000,
        200,
      );
      expect((await curl([...tls, url()])).status).toBe(200);
      expect(exporter.child.exitCode).toBeNull();
      expect(exporter.stderr()).toContain('web configuration reloaded');
    } finally {
      await exporter.stop();
    }
  });
});

/** Resident and peak resident memory of a process, in MiB. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

describe('the server under abuse', () => {
  let child: ChildProcess;
  let port: number;
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    child = spawn(NODE, [CLI], {
      env: exporterEnv({
        CONNTRACK_EXPORTER_LISTEN_ADDRESS: '127.0.0.1:0',
        CONNTRACK_EXPORTER_LOG_LEVEL: 'info',
        // Above the burst size: every one of the 500 concurrent scrapes is served, so what the
        // memory figure measures is the shared rendering, not connections shed by the cap.
        CONNTRACK_EXPORTER_HTTP_MAX_CONNECTIONS: '1024',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    port = await waitFor(
      'the exporter to log its address',
      () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${err}`);
        const m = /"port":(\d+)/.exec(err);
        return Promise.resolve(m ? Number(m[1]) : undefined);
      },
      15_000,
      50,
    );
  });
  afterAll(async () => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    await mkdir(`${REPO}.tmp`, { recursive: true });
    await writeFile(`${REPO}.tmp/http-figures.json`, `${JSON.stringify(figures, null, 2)}\n`);
    console.log('HTTP figures:', JSON.stringify(figures));
  });

  const scrape = (
    agent: Agent | false,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; bytes: number; ms: number }> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request({ host: '127.0.0.1', port, path: '/metrics', agent, headers }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started }));
      });
      req.on('error', reject);
      req.end();
    });

  it('five bursts of 500 concurrent scrapes raise peak resident memory by at most 40 MB', async () => {
    for (let i = 0; i < 20; i++) await scrape(false, { 'accept-encoding': 'gzip' });
    const rest = await memoryOf(child.pid ?? 0);
    const agent = new Agent({ maxSockets: 500 });
    const bursts: number[] = [];
    for (let b = 0; b < 5; b++) {
      const started = performance.now();
      // A refused or reset socket is retried once, as Prometheus would on its next scrape.
      const results = await Promise.all(
        Array.from({ length: 500 }, () =>
          scrape(agent, { 'accept-encoding': 'gzip' }).catch(() => scrape(false)),
        ),
      );
      bursts.push(performance.now() - started);
      expect(results.every((r) => r.status === 200)).toBe(true);
    }
    agent.destroy();
    const after = await memoryOf(child.pid ?? 0);
    figures.restRssMiB = Number(rest.rss.toFixed(1));
    figures.restPeakMiB = Number(rest.hwm.toFixed(1));
    figures.peakAfterBurstsMiB = Number(after.hwm.toFixed(1));
    figures.peakRiseMiB = Number((after.hwm - rest.hwm).toFixed(1));
    figures.burstOf500MedianMs = Math.round(median(bursts));
    expect(after.hwm - rest.hwm).toBeLessThanOrEqual(40);
  });

  it('/metrics answers while 1,000 idle connections are attempted and held', async () => {
    const sockets: Socket[] = [];
    let closedByServer = 0;
    for (let i = 0; i < 1000; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => (closedByServer += 1));
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => once(s, 'connect').catch(() => undefined)));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await scrape(false);
      expect(r.status).toBe(200);
      times.push(r.ms);
    }
    figures.metricsWith1000IdleMedianMs = Math.round(median(times));
    figures.idleConnectionsClosedByCap = closedByServer;
    for (const s of sockets) s.destroy();
  });

  it('a connection that never completes its request headers is closed within 30 s', async () => {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    const started = performance.now();
    s.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => s.writable && s.write('X-Slowloris: 1\r\n'), 1000);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    await waitFor(
      'the server to close the slowloris connection',
      () => Promise.resolve(s.destroyed || s.readableEnded ? true : undefined),
      30_000,
      100,
    );
    clearInterval(drip);
    s.destroy();
    figures.slowlorisClosedAfterS = Number(((performance.now() - started) / 1000).toFixed(1));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('gzip is served when asked', async () => {
    const plain = await scrape(false);
    const gz = await scrape(false, { 'accept-encoding': 'gzip' });
    figures.bodyBytes = plain.bytes;
    figures.gzipBytes = gz.bytes;
    expect(gz.bytes).toBeLessThan(plain.bytes / 2);
  });
});
