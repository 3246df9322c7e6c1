// Test support: loads the kernel captures in test/fixtures/*.json (written by
// scripts/record-fixtures.ts) as Buffers and MessageViews, the named corpora shared by the tests.
// The captures come from an x86-64 (little-endian) kernel: netlink framing is host order.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { align4, forEachMessage, type MessageView } from '../../src/netlink/codec.js';
import type { FixtureFile, FixtureHeader } from '../../scripts/record-fixtures.js';

/** The repository root, from the sources or from their build in dist/. */
const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');

export type FixtureName = 'stats' | 'flows-acct' | 'flows-nat' | 'flows-noacct' | 'errors' | 'events';

export interface LoadedCorpus {
  readonly description: string;
  readonly request: Buffer;
  /** One Buffer per netlink message, exactly as received. */
  readonly messages: readonly Buffer[];
  /**
   * The datagrams as the socket delivered them, rebuilt from the messages (the kernel pads
   * messages to 4 bytes with zeros; the recorded messages are already aligned).
   */
  readonly datagrams: readonly Buffer[];
  readonly outcome: string;
}

export interface LoadedFixture {
  readonly header: FixtureHeader;
  /** CLI text just before the capture. */
  readonly cli: Readonly<Record<string, string>>;
  /** CLI text just after, where it differs (only timeouts and delta-time can). */
  readonly cliAfter: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, string>>;
  corpus(name: string): LoadedCorpus;
}

export function loadFixture(name: FixtureName): LoadedFixture {
  const raw = JSON.parse(readFileSync(`${REPO}test/fixtures/${name}.json`, 'utf8')) as FixtureFile;
  return {
    header: raw.header,
    cli: raw.cli,
    cliAfter: raw.cliAfter,
    files: raw.files,
    corpus(corpusName: string): LoadedCorpus {
      const c = raw.corpora[corpusName];
      if (!c) throw new Error(`fixture ${name} has no corpus ${corpusName}`);
      const messages = c.messages.map((hex) => Buffer.from(hex, 'hex'));
      const datagrams: Buffer[] = [];
      let next = 0;
      for (const count of c.datagrams) {
        const parts = messages.slice(next, next + count);
        next += count;
        datagrams.push(
          Buffer.concat(parts.map((m) => Buffer.concat([m, Buffer.alloc(align4(m.length) - m.length)]))),
        );
      }
      if (next !== messages.length)
        throw new Error(`fixture ${name}/${corpusName}: datagram counts do not add up`);
      return {
        description: c.description,
        request: Buffer.from(c.request, 'hex'),
        messages,
        datagrams,
        outcome: c.outcome,
      };
    },
  };
}

/** The single netlink message in `buf` as a MessageView. */
export function viewOf(buf: Buffer): MessageView {
  const views: MessageView[] = [];
  forEachMessage(buf, (m) => views.push(m));
  const [view] = views;
  if (views.length !== 1 || !view) throw new Error(`expected one message, got ${views.length}`);
  return view;
}

/** A view over arbitrary bytes, taking type/flags/seq from the header when there is one. */
export function rawView(buf: Buffer, type?: number): MessageView {
  const h = buf.length >= 16;
  return {
    buf,
    start: 0,
    end: buf.length,
    type: type ?? (h ? buf.readUInt16LE(4) : 0),
    flags: h ? buf.readUInt16LE(6) : 0,
    seq: h ? buf.readUInt32LE(8) : 0,
    pid: h ? buf.readUInt32LE(12) : 0,
  };
}

/** Parses hex written with spaces, newlines and `|` separators, as in the comments of test/support/ctnetlink-examples.ts. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/[\s|]/g, ''), 'hex');
}
