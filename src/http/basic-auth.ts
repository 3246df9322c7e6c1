// Layer: wiring (HTTP). HTTP basic authentication against the web configuration's bcrypt hashes,
// as exporter-toolkit does it: a verified (user, hash, password) is cached, so only the first
// request with given credentials pays for bcrypt; the comparison runs in a worker thread, one at
// a time; an unknown user is compared against a fixed hash so timing does not reveal which users
// exist. The cache keys are SHA-256 digests: plaintext passwords are not kept.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CompareReply, CompareRequest } from './bcrypt-worker.js';

/** bcrypt (cost 10) of a password nobody has; compared when the user does not exist. */
const FAKE_HASH = '$2y$10$U12ig72ss3Y5dlx5WN7aZ.QVgbUULXLFYEIvb7T51KzQD571LmeFm';
const CACHE_SIZE = 100;
/** Comparisons waiting beyond this are refused (429) rather than queued without bound. */
const MAX_PENDING = 32;

export type AuthResult = 'ok' | 'denied' | 'busy';

/** user and password of an `Authorization: Basic` header; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const WORKER_FILE = fileURLToPath(new URL('./bcrypt-worker.js', import.meta.url));

/** Runs comparisons in one lazily started worker (inline when running from the .ts sources). */
class Comparer {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, (ok: boolean) => void>();

  get pending(): number {
    return this.waiting.size;
  }

  compare(password: string, hash: string): Promise<boolean> {
    // bcryptjs is loaded only here (and in the worker): an exporter without users never loads it.
    if (!existsSync(WORKER_FILE))
      return import('bcryptjs').then((m) => m.default.compare(password, hash)).catch(() => false);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      worker.ref();
      worker.postMessage({ id, password, hash } satisfies CompareRequest);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_FILE, { resourceLimits: { maxOldGenerationSizeMb: 16 } });
    worker.on('message', (msg: CompareReply) => {
      this.waiting.get(msg.id)?.(msg.ok);
      this.waiting.delete(msg.id);
      if (this.waiting.size === 0) worker.unref();
    });
    const fail = (): void => {
      // A dead worker denies what it was asked and is replaced on the next comparison.
      for (const done of this.waiting.values()) done(false);
      this.waiting.clear();
      if (this.worker === worker) this.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    worker.unref();
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}

export class BasicAuth {
  private readonly cache = new Map<string, boolean>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly comparer = new Comparer();

  /**
   * Checks an Authorization header against `users` (user -> bcrypt hash). Resolves at once from
   * the cache; otherwise after one bcrypt comparison shared by every request with the same
   * credentials.
   */
  check(users: ReadonlyMap<string, string>, header: string | undefined): AuthResult | Promise<AuthResult> {
    const creds = parseBasicAuth(header);
    if (!creds) return 'denied';
    const known = users.get(creds.user);
    const hash = known ?? FAKE_HASH;
    // node:crypto on first use: an exporter without users never loads it (nor OpenSSL's code pages).
    const key = process
      .getBuiltinModule('node:crypto')
      .createHash('sha256')
      .update(`${creds.user.length}:${creds.user}\0${hash}\0`)
      .update(creds.password)
      .digest('hex');
    const cached = this.cache.get(key);
    const verdict = (ok: boolean): AuthResult => (ok && known !== undefined ? 'ok' : 'denied');
    if (cached !== undefined) return verdict(cached);
    let running = this.inflight.get(key);
    if (!running) {
      if (this.comparer.pending >= MAX_PENDING) return 'busy';
      running = this.comparer.compare(creds.password, hash).then((ok) => {
        this.remember(key, ok);
        this.inflight.delete(key);
        return ok;
      });
      this.inflight.set(key, running);
    }
    return running.then(verdict);
  }

  private remember(key: string, ok: boolean): void {
    if (this.cache.size >= CACHE_SIZE) {
      // Evict the oldest tenth, so eviction does not run on every miss once the cache is full.
      let n = Math.ceil(CACHE_SIZE / 10);
      for (const k of this.cache.keys()) {
        if (n-- <= 0) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, ok);
  }

  close(): Promise<void> {
    return this.comparer.close();
  }
}
