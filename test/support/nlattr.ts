// Test support: builds netlink attributes and nfnetlink messages byte by byte (host-order
// headers, big-endian payloads, as ctnetlink sends them), for synthetic decoder inputs.

import { align4 } from '../../src/netlink/codec.js';

const NLA_F_NESTED = 0x8000;

/** One attribute, padded to 4 bytes; `nested` sets NLA_F_NESTED as 5.2+ kernels do. */
export function attr(type: number, payload: Buffer, nested = false): Buffer {
  const b = Buffer.alloc(align4(4 + payload.length));
  b.writeUInt16LE(4 + payload.length, 0);
  b.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
  payload.copy(b, 4);
  return b;
}

export function nest(type: number, ...children: Buffer[]): Buffer {
  return attr(type, Buffer.concat(children), true);
}

/** A nest written the pre-5.2 way, without NLA_F_NESTED. */
export function bareNest(type: number, ...children: Buffer[]): Buffer {
  return attr(type, Buffer.concat(children), false);
}

export const u8 = (type: number, v: number): Buffer => attr(type, Buffer.from([v]));

export function be16(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return attr(type, b);
}

export function be32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return attr(type, b);
}

export function be64(type: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return attr(type, b);
}

export function ipv4(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

export function ipv6(groups: readonly number[]): Buffer {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

/** nlmsghdr + nfgenmsg + attributes. */
export function nfnlMessage(
  type: number,
  family: number,
  attributes: readonly Buffer[],
  { flags = 0x02, seq = 1, resId = 0 }: { flags?: number; seq?: number; resId?: number } = {},
): Buffer {
  const body = Buffer.concat(attributes);
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20 + body.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b[16] = family;
  b.writeUInt16BE(resId, 18);
  return Buffer.concat([b, body]);
}
