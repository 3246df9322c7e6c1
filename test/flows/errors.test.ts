// Errors across the worker boundary: every class the flow worker can raise comes back on its own
// class with its code (and errno), through structured cloning as the worker's port does it.

import { describe, expect, it } from 'vitest';
import { ExporterError } from '../../src/errors.js';
import { FlowPassDeadlineError, fromPlainError, toPlainError } from '../../src/flows/errors.js';
import {
  DecodeError,
  NetlinkKernelError,
  NetlinkPermissionError,
  NetlinkSocketError,
} from '../../src/netlink/errors.js';

const roundTrip = (err: unknown): Error => fromPlainError(structuredClone(toPlainError(err)));

describe('errors across threads', () => {
  it('keep class, code, message and errno', () => {
    const cases: [Error, abstract new (...args: never[]) => Error, string][] = [
      [new NetlinkKernelError(2, 'IPCTNL_MSG_CT_GET'), NetlinkKernelError, 'ERR_NETLINK_KERNEL'],
      [new NetlinkPermissionError('IPCTNL_MSG_CT_GET'), NetlinkPermissionError, 'ERR_NETLINK_PERMISSION'],
      [new NetlinkSocketError('closed'), NetlinkSocketError, 'ERR_NETLINK_SOCKET'],
      [new DecodeError('short attribute'), DecodeError, 'ERR_NETLINK_DECODE'],
      [new FlowPassDeadlineError(100), FlowPassDeadlineError, 'ERR_FLOW_PASS_DEADLINE'],
    ];
    for (const [err, cls, code] of cases) {
      const back = roundTrip(err);
      expect(back).toBeInstanceOf(cls);
      expect(back).toBeInstanceOf(ExporterError);
      expect(back).toMatchObject({ code, message: err.message, name: err.name });
    }
    expect(roundTrip(new NetlinkPermissionError('X'))).toMatchObject({ errno: 1 });
  });

  it('an unknown error becomes an ExporterError with its name and message', () => {
    const back = roundTrip(new RangeError('offset out of range'));
    expect(back).toBeInstanceOf(ExporterError);
    expect(back).toMatchObject({
      name: 'RangeError',
      message: 'offset out of range',
      code: 'ERR_FLOW_WORKER',
    });
    expect(roundTrip('a string')).toMatchObject({ message: 'a string' });
  });
});
