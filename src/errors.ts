// Layer: shared. The base of every error the exporter raises on purpose: each has a stable `code`
// so callers and tests match on codes, never on message text.

export class ExporterError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
