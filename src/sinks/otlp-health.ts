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

/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const EXPORT_SUCCESS = 0;

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
    const err = new OtlpError('ERR_OTLP_EXPORT', `OTLP export to ${this.endpoint} failed`, { cause });
    this.log.warn(
      {
        code: err.code,
        endpoint: this.endpoint,
        // OTLPExporterError carries the HTTP status, network errors an errno name.
        cause: (cause as { code?: unknown } | undefined)?.code,
        err: cause?.message,
      },
      'OTLP export failing after retries; counted in conntrack_otlp_export_failures_total',
    );
  }
}
