// Unit tests of the web configuration file (exporter-toolkit's format): what parses, what each
// mistake is reported as, relative paths, and reloading when the file or a certificate changes.
// Certificates come from the real openssl CLI, hashes from htpasswd.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import {
  loadWebConfig,
  parseGoDuration,
  WebConfigError,
  WebConfigWatcher,
  type WebConfig,
} from '../../src/http/web-config.js';
import { htpasswdHash, makePki, type Pki } from '../support/tls.js';

let pki: Pki;
let hash: string;

beforeAll(async () => {
  pki = await makePki();
  hash = await htpasswdHash('s3cret', 4);
});
afterAll(async () => {
  await pki.remove();
});

async function fileWith(text: string, name = 'web.yml'): Promise<string> {
  const file = pki.path(name);
  await writeFile(file, text);
  return file;
}

async function problemsOf(text: string): Promise<readonly string[]> {
  const file = await fileWith(text, 'bad.yml');
  try {
    loadWebConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(WebConfigError);
    expect((err as WebConfigError).code).toBe('ERR_WEB_CONFIG');
    return (err as WebConfigError).problems;
  }
  throw new Error('the file was accepted');
}

describe('parsing', () => {
  it('an empty file is plain HTTP with nothing else', async () => {
    const config = loadWebConfig(await fileWith(''));
    expect(config.tls).toBeUndefined();
    expect(config.users.size).toBe(0);
    expect(config.headers).toEqual({});
    expect(config.http2).toBe(true);
    expect(config.rateLimit).toBeUndefined();
  });

  it('reads TLS, client auth, versions, ciphers, curves, users, headers and a rate limit', async () => {
    const config = loadWebConfig(
      await fileWith(`
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [prometheus.monitoring]
  min_version: TLS13
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: '${hash}'
rate_limit:
  interval: 100ms
  burst: 5
`),
    );
    expect(config.tls?.clientAuth).toBe('RequireAndVerifyClientCert');
    expect(config.tls?.clientAllowedSans).toEqual(['prometheus.monitoring']);
    const ctx = config.tls?.context;
    expect(ctx?.cert).toEqual(await pki.read('server.crt'));
    expect(ctx?.key).toEqual(await pki.read('server.key'));
    expect(new X509Certificate((ctx?.ca as string[])[0] ?? '').subject).toBe('CN=ca-test-ca');
    expect([ctx?.minVersion, ctx?.maxVersion]).toEqual(['TLSv1.3', 'TLSv1.3']);
    // TLS 1.3 suites are not configurable (as in Go): Node's defaults stay, the 1.2 suite is added.
    expect(ctx?.ciphers).toBe(
      'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256',
    );
    expect(ctx?.ecdhCurve).toBe('X25519:P-256');
    expect(ctx?.honorCipherOrder).toBe(false);
    expect(config.http2).toBe(false);
    expect(config.headers).toEqual({
      'X-Frame-Options': 'deny',
      'Strict-Transport-Security': 'max-age=31536000',
    });
    expect([...config.users]).toEqual([['prometheus', hash]]);
    expect(config.rateLimit).toEqual({ intervalMs: 100, burst: 5 });
    expect(config.watched).toEqual([
      pki.path('web.yml'),
      pki.path('server.crt'),
      pki.path('server.key'),
      pki.path('ca.crt'),
    ]);
  });

  it("takes relative paths from the file's directory, not the working directory", async () => {
    await mkdir(pki.path('conf'), { recursive: true });
    const file = await fileWith(
      'tls_server_config:\n  cert_file: ../server.crt\n  key_file: ../server.key\n',
      'conf/web.yml',
    );
    expect(loadWebConfig(file).watched).toEqual([file, pki.path('server.crt'), pki.path('server.key')]);
  });

  it('accepts inline PEM (cert, key, client_ca) and RequireClientCert as RequireAnyClientCert', async () => {
    const indent = (b: Buffer): string => b.toString().trim().replace(/\n/g, '\n    ');
    const config = loadWebConfig(
      await fileWith(`tls_server_config:
  cert: |
    ${indent(await pki.read('server.crt'))}
  key: |
    ${indent(await pki.read('server.key'))}
  client_ca: |
    ${indent(await pki.read('ca.crt'))}
  client_auth_type: RequireClientCert
`),
    );
    expect(config.tls?.clientAuth).toBe('RequireAnyClientCert');
    expect(config.watched).toEqual([pki.path('web.yml')]);
  });
});

describe('every mistake is named', () => {
  it.each([
    ['not: [valid', /^not valid YAML/],
    ['- a list', /must be a YAML mapping/],
    ['tls_server_confg: {}', /^tls_server_confg: unknown key/],
    ['tls_server_config:\n  cert_file: server.crt\n', /missing one of key or key_file/],
    ['tls_server_config:\n  key_file: server.key\n', /missing one of cert or cert_file/],
    [
      'tls_server_config:\n  cert_file: nosuch.crt\n  key_file: server.key\n',
      /cert_file .*nosuch.crt: cannot read \(ENOENT\)/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n',
      /certificate and key do not load together/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Always\n',
      /client_auth_type: invalid "Always"/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n',
      /client CAs are configured without a client_auth_type/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n',
      /client_ca: no PEM certificate found/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n',
      /min_version: unknown TLS version "TLS14"/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n',
      /min_version TLS13 is above max_version TLS12/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_INVENTED]\n',
      /unknown cipher TLS_INVENTED/,
    ],
    [
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [CurveP999]\n',
      /unknown curve CurveP999/,
    ],
    ['http_server_config:\n  headers:\n    Server: nginx\n', /header "Server" cannot be configured/],
    [
      'http_server_config:\n  headers:\n    X-Frame-Options: allow\n',
      /X-Frame-Options: "allow" is not one of deny, sameorigin/,
    ],
    ['http_server_config:\n  http2: maybe\n', /http2: must be true or false/],
    ['basic_auth_users:\n  prom: plaintext\n', /basic_auth_users.prom: not a bcrypt hash/],
    ['rate_limit:\n  interval: soon\n  burst: 1\n', /rate_limit.interval: not a duration/],
  ])('%j', async (text, problem) => {
    const problems = await problemsOf(text);
    expect(
      problems.some((p) => problem.test(p)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('lists every problem at once', async () => {
    const problems = await problemsOf(
      'tls_server_config:\n  cert_file: nosuch.crt\n  key_file: nosuch.key\nbasic_auth_users:\n  a: x\n  b: y\n',
    );
    expect(problems).toHaveLength(4);
  });

  it('an unreadable file', () => {
    expect(() => loadWebConfig(pki.path('missing.yml'))).toThrow(/missing.yml: cannot read \(ENOENT\)/);
  });
});

it('parseGoDuration reads Go durations', () => {
  expect(parseGoDuration('1s')).toBe(1000);
  expect(parseGoDuration('1m30s')).toBe(90_000);
  expect(parseGoDuration('250ms')).toBe(250);
  expect(parseGoDuration('1.5h')).toBe(5_400_000);
  expect(parseGoDuration('0')).toBe(0);
  expect(parseGoDuration('10')).toBeUndefined();
  expect(parseGoDuration('1s ')).toBeUndefined();
});

describe('WebConfigWatcher', () => {
  const logs: { level: string; msg: string }[] = [];
  const log = {
    info: (_o: object, msg: string) => logs.push({ level: 'info', msg }),
    error: (_o: object, msg: string) => logs.push({ level: 'error', msg }),
  };

  it('reloads on a changed certificate, keeps the last good file on a bad change, refuses a TLS switch', async () => {
    await pki.issueServer('server-1');
    const file = await fileWith(
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  a: '${hash}'\n`,
      'watched.yml',
    );
    const changes: WebConfig[] = [];
    const watcher = new WebConfigWatcher(loadWebConfig(file), log, 0, (c) => changes.push(c));
    const first = watcher.current();
    expect(watcher.current()).toBe(first);

    await pki.issueServer('server-2');
    const rotated = watcher.current();
    expect(rotated).not.toBe(first);
    expect(new X509Certificate(rotated.tls?.context.cert as Buffer).subject).toBe('CN=server-2');
    expect(changes).toHaveLength(1);

    // A broken edit: the rotated configuration stays, and the error is logged once.
    await writeFile(file + '.tmp', 'basic_auth_users:\n  a: nothash\n');
    await rename(file + '.tmp', file);
    expect(watcher.current()).toBe(rotated);
    expect(watcher.current()).toBe(rotated);
    expect(logs.filter((l) => l.level === 'error')).toHaveLength(1);

    // Dropping TLS needs a restart.
    await writeFile(file, `basic_auth_users:\n  a: '${hash}'\n`);
    expect(watcher.current()).toBe(rotated);
    expect(logs.filter((l) => l.level === 'error')).toHaveLength(2);

    // Fixed: users change without a restart.
    await writeFile(
      file,
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  b: '${hash}'\n`,
    );
    expect([...watcher.current().users.keys()]).toEqual(['b']);
  });

  it('checks the files at most once per interval', async () => {
    const file = await fileWith('', 'throttled.yml');
    const watcher = new WebConfigWatcher(loadWebConfig(file), log, 60_000);
    const first = watcher.current(1_000_000);
    await writeFile(file, `basic_auth_users:\n  a: '${hash}'\n`);
    expect(watcher.current(1_000_001)).toBe(first);
    expect(watcher.current(1_060_001).users.size).toBe(1);
  });
});
