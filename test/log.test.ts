// The log format: one JSON line per record with pino's numeric levels, the exporter's name, the
// fields and the message; nothing below the level; never a throw from a value JSON cannot hold.

import { describe, expect, it } from 'vitest';
import { createLogger, LEVELS } from '../src/log.js';

function capture(level: string) {
  const lines: string[] = [];
  return { log: createLogger(level, { write: (l) => lines.push(l) }), lines };
}

describe('createLogger', () => {
  it('writes one JSON line per record: level, ISO time, name, fields, message', () => {
    const { log, lines } = capture('info');
    log.warn({ sysctl: 'nf_conntrack_acct', count: 2 }, 'could not enable');
    log.info('listening');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({
      level: 40,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      name: 'conntrack-exporter',
      sysctl: 'nf_conntrack_acct',
      count: 2,
      msg: 'could not enable',
    });
    expect(Object.keys(first ?? {}).slice(0, 3)).toEqual(['level', 'time', 'name']);
    expect(second).toMatchObject({ level: 30, msg: 'listening' });
  });

  it('writes nothing below its level, and nothing at all when silent', () => {
    const warn = capture('warn');
    warn.log.debug('no');
    warn.log.info('no');
    warn.log.error('yes');
    expect(warn.lines.map((l) => (JSON.parse(l) as { level: number }).level)).toEqual([LEVELS.error]);
    const silent = capture('silent');
    for (const name of Object.keys(LEVELS) as (keyof typeof LEVELS)[]) silent.log[name]('no');
    expect(silent.lines).toEqual([]);
  });

  it('never throws on a cycle or a BigInt, and writes errors as their message', () => {
    const { log, lines } = capture('info');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => log.info({ cycle }, 'cyclic')).not.toThrow();
    log.info({ big: 2n ** 70n, err: new Error('boom') }, 'values');
    const [cyclic, values] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(cyclic).toMatchObject({ level: 30, msg: 'cyclic' });
    expect(values).toMatchObject({ big: '1180591620717411303424', err: 'boom' });
  });
});
