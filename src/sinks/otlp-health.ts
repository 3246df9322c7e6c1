// Layer: sinks. The OTLP sink's failure bookkeeping, without OpenTelemetry at run time: the wiring
// builds it (for conntrack_otlp_export_failures_total) before it loads the SDK, and loads the SDK
// only when OTLP is on (src/sinks/otel.ts, imported dynamically by main.ts).

import { ExporterError } from '../errors.js';
import type { Logger } from '../log.js';

export class OtlpError extends ExporterError {}

/** The result the SDK hands an exporter's callback (ExportResult of @opentelemetry/core). */
export interface ExportOutcome {
  /** ExportResultCode: 0 success, 1 failed. */
  readonly code: number;
  readonly error?: Error;
}

/** ExportResultCode.SUCCESS and FAILED of @opentelemetry/core. */
const EXPORT_SUCCESS = 0;
export const EXPORT_FAILED = 1;

/**
 * Whether a failed export timed out: our own deadline (ERR_OTLP_EXPORT_TIMEOUT, otel.ts), or the
 * request's, which the SDK's node transport reports as a plain `Error('Request timed out')`
 * (otlp-exporter-base, http-transport-utils) with no code to match instead.
 */
export function isTimeout(error: Error | undefined): boolean {
  if (!error) return false;
  if (error instanceof OtlpError) return error.code === 'ERR_OTLP_EXPORT_TIMEOUT';
  return /\btimed out\b/i.test(error.message);
}

/**
 * Counts exports that failed after the SDK's own retries (conntrack_otlp_export_failures_total)
 * and logs on state change only: a receiver down for an hour is one warning, not one per interval.
 */
export class OtlpExportHealth {
  private count = 0;
  private failing = false;

  constructor(
    private readonly log: Logger,
    private readonly endpoint: string,
  ) {}

  get failures(): number {
    return this.count;
  }

  record(result: ExportOutcome): void {
    if (result.code === EXPORT_SUCCESS) {
      if (this.failing) this.log.info({ endpoint: this.endpoint }, 'OTLP export recovered');
      this.failing = false;
      return;
    }
    this.count += 1;
    if (this.failing) return;
    this.failing = true;
    const cause = result.error;
    const timeout = isTimeout(cause);
    const err = timeout
      ? new OtlpError('ERR_OTLP_EXPORT_TIMEOUT', `OTLP export to ${this.endpoint} timed out`, { cause })
      : new OtlpError('ERR_OTLP_EXPORT', `OTLP export to ${this.endpoint} failed`, { cause });
    this.log.warn(
      {
        code: err.code,
        endpoint: this.endpoint,
        // OTLPExporterError carries the HTTP status, network errors an errno name.
        cause: cause instanceof OtlpError ? undefined : (cause as { code?: unknown } | undefined)?.code,
        err: cause?.message,
      },
      timeout
        ? 'OTLP export failing: timed out; counted in conntrack_otlp_export_failures_total'
        : 'OTLP export failing after retries; counted in conntrack_otlp_export_failures_total',
    );
  }
}
