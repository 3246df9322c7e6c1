// Test support: an OTLP/HTTP metrics receiver on loopback and a decoder for what it receives, JSON
// or protobuf. The protobuf schema is a subset of opentelemetry/proto/metrics/v1 (field numbers as
// upstream; fields we do not assert on are left out and skipped by the decoder).

import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { NODE, REPO } from './exporter.js';
import type { Netns } from './netns.js';

const OTLP_METRICS_PROTO = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7; optional double min = 11; optional double max = 12;
}
`;

const ExportRequest = protobuf.parse(OTLP_METRICS_PROTO).root.lookupType('otlp.ExportMetricsServiceRequest');

export type AttributeValue = string | number | boolean;

export interface OtlpPoint {
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly startTimeUnixNano: bigint;
  readonly timeUnixNano: bigint;
  /** Gauge and sum points. */
  readonly value?: number;
  /** Histogram points. */
  readonly count?: number;
  readonly sum?: number;
  readonly bucketCounts?: readonly number[];
  readonly explicitBounds?: readonly number[];
}

export interface OtlpMetric {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly kind: 'gauge' | 'sum' | 'histogram';
  /** OTLP AggregationTemporality: 1 delta, 2 cumulative (sums and histograms). */
  readonly temporality?: number;
  readonly monotonic?: boolean;
  readonly scope: string;
  readonly points: readonly OtlpPoint[];
}

export interface OtlpExport {
  readonly resource: Readonly<Record<string, AttributeValue>>;
  readonly metrics: readonly OtlpMetric[];
}

// ---- decoding: protobuf goes through toObject() into the JSON mapping's shape, then one path ----

type Json = Record<string, unknown>;

function list(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

/** Scalars as the JSON mapping and protobufjs' toObject({ longs: String }) give them. */
function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
    ? String(v)
    : '';
}

function num(v: unknown): number {
  return Number(scalar(v) || 0);
}

function anyValue(v: Json | undefined): AttributeValue {
  if (!v) return '';
  if ('stringValue' in v) return scalar(v.stringValue);
  if ('boolValue' in v) return v.boolValue === true;
  if ('intValue' in v) return num(v.intValue);
  if ('doubleValue' in v) return num(v.doubleValue);
  return JSON.stringify(v);
}

function attributes(kvs: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list(kvs)) out[scalar(kv.key)] = anyValue(kv.value as Json | undefined);
  return out;
}

function point(p: Json): OtlpPoint {
  const base = {
    attributes: attributes(p.attributes),
    startTimeUnixNano: BigInt(scalar(p.startTimeUnixNano) || 0),
    timeUnixNano: BigInt(scalar(p.timeUnixNano) || 0),
  };
  if ('count' in p || 'bucketCounts' in p) {
    return {
      ...base,
      count: num(p.count),
      sum: num(p.sum),
      bucketCounts: (Array.isArray(p.bucketCounts) ? p.bucketCounts : []).map(num),
      explicitBounds: (Array.isArray(p.explicitBounds) ? p.explicitBounds : []).map(num),
    };
  }
  return { ...base, value: 'asInt' in p ? num(p.asInt) : num(p.asDouble) };
}

function normalize(req: Json): OtlpExport[] {
  return list(req.resourceMetrics).map((rm) => {
    const metrics: OtlpMetric[] = [];
    for (const sm of list(rm.scopeMetrics)) {
      const scope = scalar((sm.scope as Json | undefined)?.name);
      for (const m of list(sm.metrics)) {
        const common = {
          name: scalar(m.name),
          description: scalar(m.description),
          unit: scalar(m.unit),
          scope,
        };
        const data = (m.gauge ?? m.sum ?? m.histogram) as Json | undefined;
        const kind = m.gauge ? 'gauge' : m.sum ? 'sum' : 'histogram';
        metrics.push({
          ...common,
          kind,
          ...(data && 'aggregationTemporality' in data && { temporality: num(data.aggregationTemporality) }),
          ...(m.sum !== undefined && { monotonic: Boolean((m.sum as Json).isMonotonic) }),
          points: list(data?.dataPoints).map(point),
        });
      }
    }
    return { resource: attributes((rm.resource as Json | undefined)?.attributes), metrics };
  });
}

/** Decodes one ExportMetricsServiceRequest body (gzip, JSON or protobuf by Content-Type). */
export function decodeExport(body: Buffer, headers: IncomingHttpHeaders): OtlpExport[] {
  const raw = headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
  const type = headers['content-type'] ?? '';
  if (type.startsWith('application/json')) return normalize(JSON.parse(raw.toString('utf8')) as Json);
  if (type.startsWith('application/x-protobuf')) {
    const message = ExportRequest.decode(raw);
    return normalize(ExportRequest.toObject(message, { longs: String, enums: Number, arrays: true }));
  }
  throw new Error(`unexpected OTLP content type ${type}`);
}

/** Every metric of one export, flattened across resource and scope. */
export function metricsOf(exports: readonly OtlpExport[]): OtlpMetric[] {
  return exports.flatMap((e) => e.metrics);
}

export function findMetric(exports: readonly OtlpExport[], name: string): OtlpMetric | undefined {
  return metricsOf(exports).find((m) => m.name === name);
}

/** The points of `name` whose attributes include `match`. */
export function pointsOf(
  exports: readonly OtlpExport[],
  name: string,
  match: Record<string, AttributeValue> = {},
): OtlpPoint[] {
  return metricsOf(exports)
    .filter((m) => m.name === name)
    .flatMap((m) => m.points)
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}

// ---- receiving ---------------------------------------------------------------------------------

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The status the receiver answered (0: it never answered). */
  readonly status: number;
}

export interface ReceiverOptions {
  readonly port?: number;
  /** Statuses to answer in turn; the last one repeats. Default: 200. */
  readonly statuses?: readonly number[];
  /** Accept requests but never answer them. */
  readonly hang?: boolean;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Resolves once `n` requests have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function successBody(contentType: string | undefined): { type: string; body: Buffer } {
  // An empty ExportMetricsServiceResponse: `{}` in JSON, zero bytes in protobuf.
  return contentType?.startsWith('application/json')
    ? { type: 'application/json', body: Buffer.from('{}') }
    : { type: 'application/x-protobuf', body: Buffer.alloc(0) };
}

function waiter(requests: readonly unknown[], onChange: (fn: () => void) => void) {
  return (n: number, timeoutMs = 20_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`waited for ${n} OTLP requests, got ${requests.length}`)),
        timeoutMs,
      );
      const check = (): void => {
        if (requests.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      onChange(check);
      check();
    });
}

/** A receiver in this process, on 127.0.0.1; `onRequest` sees every request as it arrives. */
export async function startReceiver(
  options: ReceiverOptions = {},
  onRequest?: (r: ReceivedRequest) => void,
): Promise<Receiver> {
  const statuses = options.statuses ?? [200];
  const requests: ReceivedRequest[] = [];
  const listeners = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = options.hang ? 0 : (statuses[Math.min(requests.length, statuses.length - 1)] ?? 200);
      const received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        status,
      };
      requests.push(received);
      onRequest?.(received);
      for (const l of listeners) l();
      if (options.hang) return;
      if (status >= 200 && status < 300) {
        const { type, body } = successBody(req.headers['content-type']);
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length }).end(body);
      } else {
        res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`status ${status}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor: waiter(requests, (fn) => listeners.add(fn)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const RECEIVER_SCRIPT = `${REPO}dist/test/support/otlp-receiver.js`;

/**
 * A receiver inside `ns` (where the exporter runs, so both see the same loopback). It runs as a
 * child process (test/support/otlp-receiver.ts) and relays each request as one JSON line.
 */
export async function startReceiverIn(
  ns: Netns,
  options: ReceiverOptions & { port: number },
): Promise<Receiver> {
  const child: ChildProcess = ns.spawn(NODE, [RECEIVER_SCRIPT, JSON.stringify(options)]);
  const requests: ReceivedRequest[] = [];
  const listeners = new Set<() => void>();
  let buffered = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'ready') {
          resolve();
          continue;
        }
        const r = JSON.parse(line) as Omit<ReceivedRequest, 'body'> & { body: string };
        requests.push({ ...r, body: Buffer.from(r.body, 'base64') });
        for (const l of listeners) l();
      }
    });
    child.on('exit', (code) => reject(new Error(`OTLP receiver exited ${code}: ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${options.port}`,
    requests,
    waitFor: waiter(requests, (fn) => listeners.add(fn)),
    async close() {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
