// Layer: wiring. Structured JSON logs on stderr (stdout carries the exposition in `once` mode):
// one line per record, `{"level":30,"time":"<ISO 8601>","name":"conntrack-exporter",...fields,
// "msg":"..."}`, with pino's numeric levels (what log pipelines built for Node services parse).
// Written synchronously, so a line is never lost when the process exits right after it. Our own
// few lines of code rather than pino: the exporter logs a handful of lines an hour, and pino's
// modules (worker-thread transports, sonic-boom, redaction) cost about 2 MB of resident memory.

import { writeSync } from 'node:fs';

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVELS;

/** Fields of a record, then its message; or just the message. */
export type LogFn = (fieldsOrMessage: object | string, message?: string) => void;

export interface Logger {
  /** The lowest level written (`silent`: none). */
  readonly level: string;
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
}

/** Where lines go: stderr by default; tests pass their own. */
export interface LogDestination {
  write(line: string): void;
}

/** Synchronous writes to stderr; a full non-blocking pipe (EAGAIN) is waited out, briefly. */
const STDERR: LogDestination = {
  write(line) {
    const bytes = Buffer.from(line);
    let off = 0;
    for (let tries = 0; off < bytes.length && tries < 100;) {
      try {
        off += writeSync(2, bytes, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        tries += 1;
        Atomics.wait(PAUSE, 0, 0, 10);
      }
    }
  },
};
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** A value JSON cannot hold (a cycle, a BigInt) must not turn a log call into a crash. */
function serialize(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value instanceof Error ? value.message : value,
    );
  } catch {
    return JSON.stringify({ level: record.level, time: record.time, name: record.name, msg: record.msg });
  }
}

export function createLogger(level: string, destination: LogDestination = STDERR): Logger {
  const min = level === 'silent' ? Infinity : (LEVELS[level as LevelName] ?? LEVELS.info);
  const at =
    (value: number): LogFn =>
    (fieldsOrMessage, message) => {
      if (value < min) return;
      const fields: object = typeof fieldsOrMessage === 'string' ? {} : fieldsOrMessage;
      const msg = typeof fieldsOrMessage === 'string' ? fieldsOrMessage : message;
      const record = {
        level: value,
        time: new Date().toISOString(),
        name: 'conntrack-exporter',
        ...fields,
        ...(msg !== undefined && { msg }),
      };
      destination.write(`${serialize(record)}\n`);
    };
  return {
    level,
    trace: at(LEVELS.trace),
    debug: at(LEVELS.debug),
    info: at(LEVELS.info),
    warn: at(LEVELS.warn),
    error: at(LEVELS.error),
    fatal: at(LEVELS.fatal),
  };
}
