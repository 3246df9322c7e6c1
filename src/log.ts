// Layer: wiring. Structured JSON logs on stderr (stdout carries the exposition in `once` mode).

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { name: 'conntrack-exporter' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}
