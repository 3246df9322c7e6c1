// Layer: collectors (flows). The flow subsystem's errors, and how any error crosses the worker
// boundary keeping its class and code: structured cloning keeps only message and name, so errors
// travel as plain data and are rebuilt on the class they left.

import { ExporterError } from '../errors.js';
import {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
  NetlinkTimeoutError,
  ReadOnlyViolationError,
} from '../netlink/errors.js';

export class FlowsUnavailableError extends ExporterError {
  constructor() {
    super('ERR_FLOWS_UNAVAILABLE', 'flow passes need ctnetlink (CAP_NET_ADMIN); no pass has run');
  }
}

/** A pass did not report within its deadline: its worker was terminated. */
export class FlowPassDeadlineError extends ExporterError {
  constructor(deadlineMs: number) {
    super('ERR_FLOW_PASS_DEADLINE', `flow pass did not finish within its deadline of ${deadlineMs} ms`);
  }
}

/** The flow worker died (exited, crashed, ran out of heap) during a pass. */
export class FlowWorkerExitError extends ExporterError {
  constructor(detail: string, options?: ErrorOptions) {
    super('ERR_FLOW_WORKER_EXIT', `flow worker died during a pass: ${detail}`, options);
  }
}

/** The last pass's aggregates are older than the maximum age: they are no longer served. */
export class FlowsStaleError extends ExporterError {
  constructor(ageMs: number, maxAgeMs: number, why: string) {
    super(
      'ERR_FLOWS_STALE',
      `the last flow pass ended ${Math.round(ageMs / 1000)} s ago, beyond the maximum age of ${maxAgeMs / 1000} s (${why})`,
    );
  }
}

export interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly stack?: string;
}

/** The classes an error may be rebuilt on; anything else comes back as an ExporterError. */
const CLASSES: Readonly<Record<string, { prototype: Error }>> = {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
  NetlinkTimeoutError,
  ReadOnlyViolationError,
  FlowsUnavailableError,
  FlowPassDeadlineError,
  FlowWorkerExitError,
  ExporterError,
};

export function toPlainError(err: unknown): PlainError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' && { code }),
    ...(typeof errno === 'number' && { errno }),
    ...(err.stack !== undefined && { stack: err.stack }),
  };
}

/** The error on its own class again (`instanceof` and `code` hold); unknown ones as ExporterError. */
export function fromPlainError(p: PlainError): Error {
  const cls = CLASSES[p.name];
  const err = Object.create((cls ?? ExporterError).prototype) as Error & {
    code: string;
    errno?: number;
  };
  Object.defineProperty(err, 'message', { value: p.message, writable: true, configurable: true });
  Object.defineProperty(err, 'name', { value: p.name, writable: true, configurable: true });
  err.code = p.code ?? 'ERR_FLOW_WORKER';
  if (p.errno !== undefined) err.errno = p.errno;
  if (p.stack !== undefined)
    Object.defineProperty(err, 'stack', { value: p.stack, writable: true, configurable: true });
  return err;
}
