// Layer: wiring (HTTP). The endpoint: /metrics (Prometheus text or OpenMetrics by Accept q-values,
// gzip when asked), a landing page at /, and /healthz; plain HTTP or, with a web configuration
// file, TLS with optional client certificates, basic auth, extra headers and a rate limit.
// Built to hold under abuse: one rendering per (collection, format, encoding) shared by every
// waiting request; a connection cap that evicts the oldest idle connection so floods of idle
// sockets cannot lock scrapers out; header, idle and inactivity timeouts of our own. Knows the
// snapshot and renderer only through MetricsSource.

// node:http through process.getBuiltinModule, not an ESM import: importing it as ESM reads every
// export, and its lazy ones load crypto, tls and http2 (about 14 MB of resident memory, most of
// the exporter's at rest). Types only here.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';
import { BasicAuth } from './basic-auth.js';
import {
  negotiateEncoding,
  negotiateFormat,
  type ContentEncoding,
  type ExpositionFormat,
} from './negotiate.js';
import type { TlsSettings, WebConfig, WebConfigWatcher } from './web-config.js';

const gzipAsync = promisify(gzip);

/** Where /metrics gets its data: a collection (shared by concurrent callers) and a renderer. */
export interface MetricsSource<S extends object = object> {
  collect(): Promise<S>;
  render(snapshot: S, format: ExpositionFormat): string | Promise<string>;
  readonly contentTypes: Readonly<Record<ExpositionFormat, string>>;
}

export interface HttpLimits {
  /** Open connections at most; beyond it the oldest idle one is closed (or the new one, if none is idle). */
  readonly maxConnections: number;
  /** A request's headers must arrive within this (slowloris); also the TLS handshake deadline. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 65_000,
};
/** How often Node checks the header and request deadlines (its default, 30 s, would let them slip). */
const DEADLINE_CHECK_MS = 1000;

export interface HttpOptions<S extends object = object> {
  readonly host: string | undefined;
  readonly port: number;
  readonly metricsPath: string;
  /** undefined when the Prometheus exporter is disabled (OTLP only). */
  readonly metrics: MetricsSource<S> | undefined;
  readonly version: string;
  readonly log: Logger;
  readonly limits?: HttpLimits;
  /** The web configuration (TLS, auth, headers), re-read when its files change. */
  readonly web?: WebConfigWatcher;
}

export interface RunningServer {
  readonly address: AddressInfo;
  readonly tls: boolean;
  close(): Promise<void>;
}

/** The listen socket could not be opened; `reason` says why in words. */
export class ListenError extends ExporterError {
  constructor(
    readonly address: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super('ERR_LISTEN', `cannot listen on ${address}: ${reason}`, options);
  }
}

const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is already in use',
  EADDRNOTAVAIL: "the address is not one of this host's (or its network namespace's) addresses",
  EACCES: 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS not reachable)',
  EAFNOSUPPORT: 'the address family is not supported here (IPv6 disabled?)',
  EINVAL: 'the address is invalid',
};

function describeListenError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  return `${LISTEN_REASONS[code] ?? err.message}${code ? ` (${code})` : ''}`;
}

function landingPage(opts: {
  readonly metrics: unknown;
  readonly metricsPath: string;
  readonly version: string;
}): string {
  const metrics = opts.metrics
    ? `<p><a href="${opts.metricsPath}">${opts.metricsPath}</a>: metrics in the Prometheus text format (OpenMetrics on request).</p>`
    : '<p>The Prometheus endpoint is disabled (OTEL_METRICS_EXPORTER has no "prometheus"); metrics are pushed over OTLP.</p>';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>conntrack-exporter</title></head>
<body><h1>conntrack-exporter ${opts.version}</h1>
<p>Linux conntrack table health, per-CPU statistics and sampled flows.</p>
${metrics}
<p><a href="/healthz">/healthz</a>: liveness.</p>
</body></html>
`;
}

/**
 * Bodies per snapshot, format and encoding. Entries live as long as the snapshot object, which
 * the collection drops once no request holds it; so N concurrent scrapes of one collection cost
 * one rendering and one compression.
 */
class Renderings<S extends object> {
  private readonly bodies = new WeakMap<S, Map<string, Promise<Buffer>>>();

  constructor(private readonly source: MetricsSource<S>) {}

  body(snapshot: S, format: ExpositionFormat, encoding: ContentEncoding): Promise<Buffer> {
    let byKey = this.bodies.get(snapshot);
    if (!byKey) {
      byKey = new Map();
      this.bodies.set(snapshot, byKey);
    }
    const key = `${format}/${encoding}`;
    let body = byKey.get(key);
    if (!body) {
      body =
        encoding === 'gzip'
          ? this.body(snapshot, format, 'identity').then((plain) => gzipAsync(plain))
          : Promise.resolve(this.source.render(snapshot, format)).then((text) => Buffer.from(text, 'utf8'));
      const map = byKey;
      // A failed rendering is not kept: the next request tries again.
      body.catch(() => map.delete(key));
      map.set(key, body);
    }
    return body;
  }
}

/** Tokens refilled one per interval up to burst (exporter-toolkit's rate_limit, golang.org/x/time/rate). */
class TokenBucket {
  private tokens: number;
  private at = Date.now();

  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) / this.intervalMs);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** SANs of a peer certificate as Node prints them ("DNS:a, IP Address:1.2.3.4, URI:..."). */
function sansOf(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname.split(/,\s*/).map((entry) => entry.slice(entry.indexOf(':') + 1));
}

/** Why a TLS client is refused after the handshake, or undefined if it may proceed. */
export function clientCertProblem(tls: TlsSettings, socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && Object.keys(cert).length > 0;
  if (tls.clientAuth === 'RequireAnyClientCert' && !presented) return 'no client certificate';
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && presented && !socket.authorized) {
    return `client certificate not verified (${String(socket.authorizationError)})`;
  }
  if (tls.clientAllowedSans) {
    if (!presented) return 'no client certificate';
    const sans = sansOf(cert.subjectaltname);
    if (!sans.some((s) => tls.clientAllowedSans?.includes(s))) return 'client certificate has no allowed SAN';
  }
  return undefined;
}

function tlsOptions(tls: TlsSettings): TlsOptions {
  const verify = tls.clientAuth === 'RequireAndVerifyClientCert';
  return {
    ...tls.context,
    requestCert: tls.clientAuth !== 'NoClientCert',
    // Only RequireAndVerifyClientCert fails the handshake itself; the weaker policies are
    // checked on the finished handshake (clientCertProblem), as Node has no equivalent setting.
    rejectUnauthorized: verify,
  };
}

interface Connection {
  readonly socket: Socket;
  busy: number;
}

export function startHttpServer<S extends object>(opts: HttpOptions<S>): Promise<RunningServer> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const renderings = opts.metrics ? new Renderings(opts.metrics) : undefined;
  const auth = new BasicAuth();
  const initial = opts.web?.current();
  let bucket: { config: WebConfig['rateLimit']; bucket: TokenBucket } | undefined;

  const rateLimited = (web: WebConfig | undefined): boolean => {
    const rl = web?.rateLimit;
    if (!rl) return false;
    if (bucket?.config !== rl) bucket = { config: rl, bucket: new TokenBucket(rl.intervalMs, rl.burst) };
    return !bucket.bucket.take();
  };

  const text = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(body);
  };

  const serveMetrics = async (
    req: IncomingMessage,
    res: ServerResponse,
    metrics: MetricsSource<S>,
  ): Promise<void> => {
    const format = negotiateFormat(req.headers.accept);
    const encoding = negotiateEncoding(req.headers['accept-encoding']);
    const snapshot = await metrics.collect();
    const body = await (renderings as Renderings<S>).body(snapshot, format, encoding);
    res.writeHead(200, {
      'Content-Type': metrics.contentTypes[format],
      'Content-Length': body.length,
      Vary: 'Accept, Accept-Encoding',
      ...(encoding === 'gzip' && { 'Content-Encoding': 'gzip' }),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const web = opts.web?.current();
    for (const [name, value] of Object.entries(web?.headers ?? {})) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0];
    if (rateLimited(web)) {
      text(res, 429, 'too many requests\n', { 'Retry-After': '1' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    // /healthz stays open so a kubelet probe needs no password; it says nothing but "ok".
    if (path === '/healthz') {
      text(res, 200, 'ok\n');
      return;
    }
    if (web && web.users.size > 0) {
      const verdict = await auth.check(web.users, req.headers.authorization);
      if (verdict === 'busy') {
        text(res, 429, 'too many authentication attempts\n', { 'Retry-After': '1' });
        return;
      }
      if (verdict !== 'ok') {
        text(res, 401, 'unauthorized\n', { 'WWW-Authenticate': 'Basic' });
        return;
      }
    }
    if (path === opts.metricsPath && opts.metrics) await serveMetrics(req, res, opts.metrics);
    else if (path === '/')
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(landingPage(opts));
    else text(res, 404, 'not found\n');
  };

  // Keyed by the peer's address and port, which the TCP socket and its TLS socket share.
  const connections = new Map<string, Connection>();
  const keyOf = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const conn = connections.get(keyOf(req.socket));
    if (conn) conn.busy += 1;
    res.once('close', () => {
      if (conn) conn.busy -= 1;
    });
    handle(req, res).catch((err: unknown) => {
      opts.log.error({ err: (err as Error).message, url: req.url }, 'request failed');
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    });
  };

  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: DEADLINE_CHECK_MS,
    // Requests of a scraper are small: refuse 8 KiB+ headers early (Node's default is 16 KiB).
    maxHeaderSize: 8192,
  };
  const tlsServer = initial?.tls
    ? // node:https (and TLS) loaded only when TLS is configured.
      process.getBuiltinModule('node:https').createServer(
        {
          ...serverOptions,
          ...tlsOptions(initial.tls),
          handshakeTimeout: limits.headersTimeoutMs,
          // HTTP/1.1 only: see docs/security.md for the http2 flag.
          ALPNProtocols: ['http/1.1'],
        },
        onRequest,
      )
    : undefined;
  const server: Server | HttpsServer =
    tlsServer ?? process.getBuiltinModule('node:http').createServer(serverOptions, onRequest);
  let tlsInForce = initial?.tls;
  /** A rotated certificate or changed client policy applies from the next connection on. */
  const refreshTls = (): void => {
    const tls = opts.web?.current().tls;
    if (tlsServer && tls && tls !== tlsInForce) {
      tlsInForce = tls;
      tlsServer.setSecureContext(tlsOptions(tls));
    }
  };
  // Inactivity while a response is written (a client that stops reading) ends the connection.
  server.timeout = limits.idleTimeoutMs + limits.headersTimeoutMs;

  // Before the TLS server's own listener creates the TLSSocket, so a rotated certificate or a
  // changed client policy applies to this very connection.
  server.prependListener('connection', (socket: Socket) => {
    refreshTls();
    const key = keyOf(socket);
    connections.set(key, { socket, busy: 0 });
    socket.once('close', () => {
      if (connections.get(key)?.socket === socket) connections.delete(key);
    });
    if (connections.size <= limits.maxConnections) return;
    for (const [k, c] of connections) {
      if (c.socket !== socket && c.busy === 0) {
        connections.delete(k);
        c.socket.destroy();
        opts.log.debug(
          { max: limits.maxConnections },
          'connection cap reached: closed the oldest idle connection',
        );
        return;
      }
    }
    connections.delete(key);
    socket.destroy();
    opts.log.debug(
      { max: limits.maxConnections },
      'connection cap reached with every connection busy: refused',
    );
  });
  if (tlsServer) {
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      const tls = opts.web?.current().tls;
      const problem = tls && clientCertProblem(tls, socket);
      if (problem) {
        opts.log.debug({ remote: socket.remoteAddress, problem }, 'TLS client refused');
        socket.destroy();
      }
    });
    tlsServer.on('tlsClientError', (err: Error) => {
      opts.log.debug({ err: err.message }, 'TLS handshake failed');
    });
  }
  // Malformed requests and timeouts: answer 400/408 where possible, never crash.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

  const display = `${opts.host?.includes(':') ? `[${opts.host}]` : (opts.host ?? '')}:${opts.port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new ListenError(display, describeListenError(err), { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onError);
      server.on('error', (err: Error) => opts.log.error({ err: err.message }, 'HTTP server error'));
      resolve({
        address: server.address() as AddressInfo,
        tls: initial?.tls !== undefined,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
            void auth.close();
          }),
      });
    });
  });
}
