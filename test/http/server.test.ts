// Unit tests of the HTTP server with a scripted metrics source (no kernel needed): one rendering
// per snapshot shared by concurrent requests, gzip and Accept q-values, basic auth, TLS with each
// client-certificate policy against openssl-made certificates, certificate rotation, the
// connection cap, header deadlines, the rate limit and named listen errors. Clients are Node's
// own http/https/net modules; the integration test (test/integration/web-security.test.ts) uses
// curl and Prometheus.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { writeFile } from 'node:fs/promises';
import { createLogger } from '../../src/log.js';
import { BasicAuth } from '../../src/http/basic-auth.js';
import {
  ListenError,
  startHttpServer,
  type HttpLimits,
  type MetricsSource,
  type RunningServer,
} from '../../src/http/server.js';
import { loadWebConfig, WebConfigWatcher } from '../../src/http/web-config.js';
import type { ExpositionFormat } from '../../src/http/negotiate.js';
import { htpasswdHash, makePki, type Pki } from '../support/tls.js';

const log = createLogger('silent');

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Req {
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

function get(server: RunningServer, req: Req = {}): Promise<Reply> {
  const options = {
    host: '127.0.0.1',
    port: server.address.port,
    path: req.path ?? '/metrics',
    method: req.method ?? 'GET',
    headers: req.headers ?? {},
    agent: false as const,
    ...(req.tls && { ...req.tls, servername: 'localhost' }),
  };
  return new Promise((resolve, reject) => {
    const r = (req.tls ? httpsRequest : httpRequest)(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end();
  });
}

/** A source whose collect() returns the same snapshot until next() is called, counting renders. */
function scriptedSource(): MetricsSource<{ id: number }> & {
  renders: string[];
  next(): void;
  failNext: boolean;
} {
  let snapshot = { id: 1 };
  const source = {
    renders: [] as string[],
    failNext: false,
    next() {
      snapshot = { id: snapshot.id + 1 };
    },
    collect: () => Promise.resolve(snapshot),
    async render(s: { id: number }, format: ExpositionFormat): Promise<string> {
      source.renders.push(`${s.id}/${format}`);
      // Yield once, so that concurrent requests arrive while this render is pending.
      await new Promise((r) => setImmediate(r));
      if (source.failNext) {
        source.failNext = false;
        throw new Error('render failed');
      }
      return `# ${format}\nup{snapshot="${s.id}"} 1\n${'x_padding 1\n'.repeat(500)}`;
    },
    contentTypes: {
      prometheus: 'text/plain; version=0.0.4; charset=utf-8',
      openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
    },
  };
  return source;
}

const servers: RunningServer[] = [];
async function start(
  opts: {
    source?: MetricsSource<{ id: number }>;
    web?: string;
    limits?: HttpLimits;
    minCheckMs?: number;
  } = {},
): Promise<RunningServer> {
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    metricsPath: '/metrics',
    metrics: opts.source ?? scriptedSource(),
    version: 'test',
    log,
    ...(opts.limits && { limits: opts.limits }),
    ...(opts.web && { web: new WebConfigWatcher(loadWebConfig(opts.web), log, opts.minCheckMs ?? 0) }),
  });
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let pki: Pki;
let hash: string;
beforeAll(async () => {
  pki = await makePki();
  hash = await htpasswdHash('s3cret', 5);
});
afterAll(async () => {
  await pki.remove();
});

async function webFile(name: string, text: string): Promise<string> {
  const file = pki.path(name);
  await writeFile(file, text);
  return file;
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('metrics endpoint', () => {
  it('renders once per snapshot and format, shared by every concurrent request, gzip included', async () => {
    const source = scriptedSource();
    // A cap above the 200 concurrent requests: the default (64) would close some as idle.
    const server = await start({
      source,
      limits: { maxConnections: 1000, headersTimeoutMs: 10_000, idleTimeoutMs: 10_000 },
    });
    const variants: Record<string, string>[] = [
      {},
      { 'accept-encoding': 'gzip' },
      { accept: 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5' },
      { accept: 'application/openmetrics-text', 'accept-encoding': 'gzip' },
    ];
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => get(server, { headers: variants[i % 4] ?? {} })),
    );
    expect(source.renders.sort()).toEqual(['1/openmetrics', '1/prometheus']);
    for (const [i, r] of replies.entries()) {
      const v = variants[i % 4] ?? {};
      const om = 'accept' in v;
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(
        om ? source.contentTypes.openmetrics : source.contentTypes.prometheus,
      );
      expect(r.headers.vary).toBe('Accept, Accept-Encoding');
      const gz = 'accept-encoding' in v;
      expect(r.headers['content-encoding']).toBe(gz ? 'gzip' : undefined);
      expect(Number(r.headers['content-length'])).toBe(r.body.length);
      const text = (gz ? gunzipSync(r.body) : r.body).toString();
      expect(text.startsWith(`# ${om ? 'openmetrics' : 'prometheus'}\nup{snapshot="1"} 1\n`)).toBe(true);
      if (gz) expect(r.body.length).toBeLessThan(text.length / 10);
    }
    source.next();
    expect((await get(server)).body.toString()).toContain('snapshot="2"');
    expect(source.renders).toHaveLength(3);
  });

  it('honours q-values: openmetrics;q=0.1 against text/plain;q=1 gets the text format', async () => {
    const server = await start();
    const r = await get(server, {
      headers: { accept: 'application/openmetrics-text;q=0.1, text/plain;q=1' },
    });
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('HEAD has the length and no body; other methods are 405; unknown paths 404', async () => {
    const server = await start();
    const head = await get(server, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
    const post = await get(server, { method: 'POST' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect((await get(server, { path: '/nope' })).status).toBe(404);
    expect((await get(server, { path: '/healthz' })).body.toString()).toBe('ok\n');
  });

  it('a failed rendering is a 500 and is not kept: the next request renders again', async () => {
    const source = scriptedSource();
    const server = await start({ source });
    source.failNext = true;
    expect((await get(server)).status).toBe(500);
    expect((await get(server)).status).toBe(200);
    expect(source.renders).toEqual(['1/prometheus', '1/prometheus']);
  });
});

describe('basic auth', () => {
  it('401 with WWW-Authenticate: Basic without or with wrong credentials, 200 with the right ones; /healthz stays open', async () => {
    const web = await webFile(
      'auth.yml',
      `basic_auth_users:\n  prometheus: '${hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`,
    );
    const server = await start({ web });
    const attempts: Record<string, string>[] = [
      {},
      { authorization: basic('prometheus', 'wrong') },
      { authorization: basic('nobody', 's3cret') },
      { authorization: 'Bearer s3cret' },
    ];
    for (const headers of attempts) {
      const r = await get(server, { headers });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Basic');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    const ok = await get(server, { headers: { authorization: basic('prometheus', 's3cret') } });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect((await get(server, { path: '/' })).status).toBe(401);
    expect((await get(server, { path: '/healthz' })).status).toBe(200);
  });

  it('verified credentials are cached: the second check answers without bcrypt', async () => {
    const auth = new BasicAuth();
    const users = new Map([['prometheus', hash]]);
    const header = basic('prometheus', 's3cret');
    const first = auth.check(users, header);
    expect(first).toBeInstanceOf(Promise);
    // Concurrent requests with the same credentials share the one comparison.
    const concurrent = auth.check(users, header);
    expect(await Promise.all([first, concurrent])).toEqual(['ok', 'ok']);
    expect(auth.check(users, header)).toBe('ok');
    expect(await auth.check(users, basic('prometheus', 'nope'))).toBe('denied');
    expect(auth.check(users, basic('prometheus', 'nope'))).toBe('denied');
    // A changed hash (the file was edited) is a different key: verified again.
    expect(auth.check(new Map([['prometheus', await htpasswdHash('other', 4)]]), header)).toBeInstanceOf(
      Promise,
    );
    await auth.close();
  });
});

describe('TLS', () => {
  const mtls = (policy: string, extra = ''): string =>
    `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: ${policy}\n  client_ca_file: ca.crt\n${extra}`;

  it('serves HTTPS only: a plain HTTP request gets no HTTP answer', async () => {
    const server = await start({
      web: await webFile('tls.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'),
    });
    expect(server.tls).toBe(true);
    const ok = await get(server, { tls: { ca: await pki.read('ca.crt') } });
    expect(ok.status).toBe(200);
    await expect(get(server)).rejects.toThrow();
  });

  async function outcome(
    server: RunningServer,
    client: 'none' | 'client' | 'stranger',
  ): Promise<number | string> {
    const tls = {
      ca: await pki.read('ca.crt'),
      ...(client !== 'none' && {
        cert: await pki.read(`${client}.crt`),
        key: await pki.read(`${client}.key`),
      }),
    };
    return get(server, { tls }).then(
      (r) => r.status,
      (err: NodeJS.ErrnoException) => err.code ?? 'error',
    );
  }

  it.each([
    ['RequireAndVerifyClientCert', { none: false, client: true, stranger: false }],
    ['VerifyClientCertIfGiven', { none: true, client: true, stranger: false }],
    ['RequireAnyClientCert', { none: false, client: true, stranger: true }],
    ['RequestClientCert', { none: true, client: true, stranger: true }],
  ] as const)('client_auth_type %s', async (policy, expected) => {
    const server = await start({ web: await webFile(`${policy}.yml`, mtls(policy)) });
    for (const client of ['none', 'client', 'stranger'] as const) {
      const result = await outcome(server, client);
      expect([client, result === 200]).toEqual([client, expected[client]]);
    }
  });

  it('client_allowed_sans refuses a verified certificate without an allowed SAN', async () => {
    const allowed = await start({
      web: await webFile(
        'sans-ok.yml',
        mtls('RequireAndVerifyClientCert', '  client_allowed_sans: [prometheus.monitoring]\n'),
      ),
    });
    expect(await outcome(allowed, 'client')).toBe(200);
    const refused = await start({
      web: await webFile(
        'sans-no.yml',
        mtls('RequireAndVerifyClientCert', '  client_allowed_sans: [other.monitoring]\n'),
      ),
    });
    expect(await outcome(refused, 'client')).not.toBe(200);
  });

  it('a rotated certificate is served to new connections without a restart', async () => {
    await pki.issueServer('server-1');
    const server = await start({
      web: await webFile(
        'rotate.yml',
        'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n',
      ),
    });
    const subject = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect(
          {
            host: '127.0.0.1',
            port: server.address.port,
            servername: 'localhost',
            rejectUnauthorized: false,
          },
          () => {
            resolve(String(s.getPeerCertificate().subject.CN));
            s.destroy();
          },
        );
        s.on('error', reject);
      });
    expect(await subject()).toBe('server-1');
    await pki.issueServer('server-2');
    expect(await subject()).toBe('server-2');
    const ok = await get(server, { tls: { ca: await pki.read('ca.crt') } });
    expect(ok.status).toBe(200);
  });
});

describe('under abuse', () => {
  const connectIdle = (server: RunningServer): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(server.address.port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });

  it('at the connection cap a new connection closes the oldest idle one, so scrapes still get through', async () => {
    const server = await start({
      limits: { maxConnections: 5, headersTimeoutMs: 30_000, idleTimeoutMs: 30_000 },
    });
    const idle: Socket[] = [];
    const closed: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await connectIdle(server);
      s.on('close', () => closed.push(s));
      idle.push(s);
    }
    const r = await get(server);
    expect(r.status).toBe(200);
    await expect.poll(() => closed.length).toBeGreaterThanOrEqual(16);
    // The oldest were closed, the newest are held.
    expect(closed).toContain(idle[0]);
    expect(closed).not.toContain(idle[19]);
    for (const s of idle) s.destroy();
  });

  it('a connection that never completes its headers is closed after the header deadline', async () => {
    const server = await start({
      limits: { maxConnections: 10, headersTimeoutMs: 1000, idleTimeoutMs: 30_000 },
    });
    const s = await connectIdle(server);
    let received = '';
    s.on('data', (d: Buffer) => (received += d.toString()));
    s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    // Keep trickling header lines (slowloris): the deadline counts from the start, not the last byte.
    const drip = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 200);
    await new Promise((resolve) => s.on('close', resolve));
    clearInterval(drip);
    expect(received).toMatch(/^HTTP\/1.1 408 /);
  });

  it('the rate limit answers 429 beyond the burst', async () => {
    const server = await start({
      web: await webFile('rate.yml', 'rate_limit:\n  interval: 1h\n  burst: 2\n'),
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(server)).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
  });
});

describe('listen errors are named', () => {
  const listen = (host: string, port: number): Promise<unknown> =>
    startHttpServer({ host, port, metricsPath: '/metrics', metrics: undefined, version: 't', log }).then(
      async (s) => {
        await s.close();
        return 'listening';
      },
      (err: unknown) => err,
    );

  it('a busy port, a foreign address, a name that does not resolve', async () => {
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const inUse = await listen('127.0.0.1', port);
    busy.close();
    expect(inUse).toBeInstanceOf(ListenError);
    expect((inUse as ListenError).message).toBe(
      `cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE)`,
    );
    const foreign = (await listen('192.0.2.1', 0)) as ListenError;
    expect(foreign.reason).toMatch(/not one of this host's .* \(EADDRNOTAVAIL\)/);
    const unresolved = (await listen('nosuch.invalid', 0)) as ListenError;
    expect(unresolved.reason).toMatch(/does not resolve \((ENOTFOUND|EAI_AGAIN)\)|could not be resolved/);
  });
});
