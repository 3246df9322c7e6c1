// Layer: wiring. The HTTP endpoint: /metrics (Prometheus text or OpenMetrics by Accept header),
// a landing page at /, and /healthz. Knows the snapshot renderer only through a callback.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

export interface Exposition {
  readonly body: string;
  readonly contentType: string;
}

export interface HttpOptions {
  readonly host: string | undefined;
  readonly port: number;
  readonly metricsPath: string;
  /** undefined when the Prometheus exporter is disabled (OTLP only). */
  readonly render: ((accept: string | undefined) => Promise<Exposition>) | undefined;
  readonly version: string;
  readonly log: Logger;
}

export interface RunningServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function landingPage(opts: HttpOptions): string {
  const metrics = opts.render
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

export function startHttpServer(opts: HttpOptions): Promise<RunningServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' })
        .end('method not allowed\n');
      return;
    }
    if (path === opts.metricsPath && opts.render) {
      const { body, contentType } = await opts.render(req.headers.accept);
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok\n');
    } else if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(landingPage(opts));
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.error({ err: (err as Error).message, url: req.url }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  server.keepAliveTimeout = 65_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}
