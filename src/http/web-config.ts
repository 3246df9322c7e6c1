// Layer: wiring (HTTP). The web configuration file in prometheus/exporter-toolkit's format
// (its web-configuration document), so one file serves node_exporter and us: TLS, client
// certificates, bcrypt basic auth, extra response headers, a rate limit. Parsing is strict (an
// unknown key is an error, as with Go's yaml.UnmarshalStrict) and lists every problem at once.
// Relative paths are taken from the file's directory. Knows nothing of metrics or the server.

import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ExporterError } from '../errors.js';

/** The YAML parser, loaded on first use: an exporter without a web configuration never loads it. */
const parseDocument = (...args: Parameters<typeof Yaml.parseDocument>) =>
  (createRequire(import.meta.url)('yaml') as typeof Yaml).parseDocument(...args);

export class WebConfigError extends ExporterError {
  readonly problems: readonly string[];

  constructor(
    readonly file: string,
    problems: readonly string[],
  ) {
    super('ERR_WEB_CONFIG', `${file}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** Go's tls.ClientAuthType names, as exporter-toolkit accepts them. */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
const TLS_VERSION_ORDER = ['TLS10', 'TLS11', 'TLS12', 'TLS13'];

/**
 * Go's tls.CipherSuites() names with their OpenSSL names. TLS 1.3 suites are accepted and, as in
 * Go, not configurable (cipher_suites applies to TLS 1.2 and below).
 */
const CIPHER_SUITES: Readonly<Record<string, string | null>> = {
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};
/** Node's default TLS 1.3 suites, kept when cipher_suites narrows the TLS 1.2 ones. */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

/** Go's tls.CurveID names that exporter-toolkit accepts, as OpenSSL group names. */
const CURVES: Readonly<Record<string, string>> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
};

/** exporter-toolkit's extraHTTPHeaders: the only headers it lets a file set, with fixed values where listed. */
const EXTRA_HEADERS: Readonly<Record<string, readonly string[] | null>> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

/** What `htpasswd -B` and Go's bcrypt produce: $2a$/$2b$/$2y$, cost 04-31, 22+31 base64 chars. */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

export interface TlsSettings {
  /** Options for tls.createSecureContext (certificate, key, client CAs, versions, ciphers, curves). */
  readonly context: SecureContextOptions;
  readonly clientAuth: ClientAuthType;
  /** When set, a client certificate must carry one of these SANs (exporter-toolkit's client_allowed_sans). */
  readonly clientAllowedSans: readonly string[] | undefined;
}

export interface WebConfig {
  readonly file: string;
  /** undefined: the file configures no TLS, so the server speaks plain HTTP. */
  readonly tls: TlsSettings | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** user -> bcrypt hash; empty: no basic auth. */
  readonly users: ReadonlyMap<string, string>;
  /** The file's http2 flag (default true). Only HTTP/1.1 is served; see docs/security.md. */
  readonly http2: boolean;
  readonly rateLimit: { readonly intervalMs: number; readonly burst: number } | undefined;
  /** The configuration file and every file it names: a change to any of them means a reload. */
  readonly watched: readonly string[];
}

type Reader = (path: string) => Buffer;

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];
const HTTP_KEYS = ['http2', 'headers'];
const RATE_KEYS = ['interval', 'burst'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's time.ParseDuration for the units a rate limit needs ("500ms", "1s", "1m30s"); ms or undefined. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Parses and checks a web configuration: YAML shape, values, and that the certificate, key and
 * client CAs it names load (a key that does not match its certificate is a problem here, not at
 * the first handshake). Throws WebConfigError listing every problem.
 */
export function parseWebConfig(text: string, file: string, read: Reader = readFileSync): WebConfig {
  const problems: string[] = [];
  const dir = dirname(file);
  const watched = [file];
  const doc = parseDocument(text, { uniqueKeys: true });
  for (const e of doc.errors) problems.push(`not valid YAML: ${e.message.split('\n')[0] ?? ''}`);
  if (problems.length > 0) throw new WebConfigError(file, problems);
  const root: unknown = doc.toJS() ?? {};
  if (!isRecord(root)) throw new WebConfigError(file, ['the file must be a YAML mapping']);

  const unknownKeys = (obj: Record<string, unknown>, known: readonly string[], where: string): void => {
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) problems.push(`${where}${k}: unknown key (known: ${known.join(', ')})`);
    }
  };
  const section = (key: string): Record<string, unknown> => {
    const v = root[key];
    if (v === undefined || v === null) return {};
    if (!isRecord(v)) {
      problems.push(`${key}: must be a mapping`);
      return {};
    }
    return v;
  };
  unknownKeys(root, TOP_KEYS, '');
  const str = (obj: Record<string, unknown>, key: string, where: string): string | undefined => {
    const v = obj[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') {
      problems.push(`${where}.${key}: must be a string`);
      return undefined;
    }
    return v;
  };
  const list = (obj: Record<string, unknown>, key: string, where: string): string[] | undefined => {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      problems.push(`${where}.${key}: must be a list of strings`);
      return undefined;
    }
    return v;
  };
  const load = (path: string, what: string): Buffer | undefined => {
    const full = resolve(dir, path);
    watched.push(full);
    try {
      return read(full);
    } catch (err) {
      problems.push(
        `${what} ${full}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
      return undefined;
    }
  };

  // tls_server_config
  const t = section('tls_server_config');
  unknownKeys(t, TLS_KEYS, 'tls_server_config.');
  const W = 'tls_server_config';
  const certFile = str(t, 'cert_file', W);
  const keyFile = str(t, 'key_file', W);
  const certInline = str(t, 'cert', W);
  const keyInline = str(t, 'key', W);
  const caFile = str(t, 'client_ca_file', W);
  const caInline = str(t, 'client_ca', W);
  const clientAuthRaw = str(t, 'client_auth_type', W);
  const tlsEnabled = [certFile, keyFile, certInline, keyInline, caFile, caInline, clientAuthRaw].some(
    (v) => v !== undefined,
  );
  let tls: TlsSettings | undefined;
  if (tlsEnabled) {
    if (certFile && certInline) problems.push(`${W}: cert and cert_file are both set; use one`);
    if (keyFile && keyInline) problems.push(`${W}: key and key_file are both set; use one`);
    if (caFile && caInline) problems.push(`${W}: client_ca and client_ca_file are both set; use one`);
    if (!certFile && !certInline) problems.push(`${W}: missing one of cert or cert_file`);
    if (!keyFile && !keyInline) problems.push(`${W}: missing one of key or key_file`);
    const cert = certFile ? load(certFile, `${W}.cert_file`) : certInline && Buffer.from(certInline);
    const key = keyFile ? load(keyFile, `${W}.key_file`) : keyInline && Buffer.from(keyInline);
    const ca = caFile ? load(caFile, `${W}.client_ca_file`) : caInline && Buffer.from(caInline);

    let clientAuth: ClientAuthType = 'NoClientCert';
    if (clientAuthRaw === 'RequireClientCert')
      clientAuth = 'RequireAnyClientCert'; // kept by exporter-toolkit for compatibility
    else if (clientAuthRaw !== undefined) {
      if ((CLIENT_AUTH_TYPES as readonly string[]).includes(clientAuthRaw))
        clientAuth = clientAuthRaw as ClientAuthType;
      else
        problems.push(
          `${W}.client_auth_type: invalid "${clientAuthRaw}" (valid: ${CLIENT_AUTH_TYPES.join(', ')})`,
        );
    }
    if ((caFile || caInline) && clientAuth === 'NoClientCert') {
      problems.push(`${W}: client CAs are configured without a client_auth_type that asks for certificates`);
    }
    let caCerts: string[] = [];
    if (ca) {
      caCerts = pemBlocks(ca.toString('utf8'));
      for (const pem of caCerts) {
        try {
          new (process.getBuiltinModule('node:crypto').X509Certificate)(pem);
        } catch (err) {
          problems.push(`${W}.client_ca: a certificate does not parse (${(err as Error).message})`);
        }
      }
      if (caCerts.length === 0) problems.push(`${W}.client_ca: no PEM certificate found`);
    }

    const version = (
      key: 'min_version' | 'max_version',
      dflt: keyof typeof TLS_VERSIONS,
    ): keyof typeof TLS_VERSIONS => {
      const v = str(t, key, W) ?? dflt;
      if (Object.hasOwn(TLS_VERSIONS, v)) return v as keyof typeof TLS_VERSIONS;
      problems.push(
        `${W}.${key}: unknown TLS version "${v}" (valid: ${Object.keys(TLS_VERSIONS).join(', ')})`,
      );
      return dflt;
    };
    const minVersion = version('min_version', 'TLS12');
    const maxVersion = version('max_version', 'TLS13');
    if (TLS_VERSION_ORDER.indexOf(minVersion) > TLS_VERSION_ORDER.indexOf(maxVersion)) {
      problems.push(`${W}: min_version ${minVersion} is above max_version ${maxVersion}`);
    }
    const suites = list(t, 'cipher_suites', W);
    const ciphers: string[] = [];
    for (const s of suites ?? []) {
      if (!Object.hasOwn(CIPHER_SUITES, s)) problems.push(`${W}.cipher_suites: unknown cipher ${s}`);
      else if (CIPHER_SUITES[s]) ciphers.push(CIPHER_SUITES[s]);
    }
    const curves = list(t, 'curve_preferences', W);
    const groups: string[] = [];
    for (const c of curves ?? []) {
      if (!Object.hasOwn(CURVES, c))
        problems.push(
          `${W}.curve_preferences: unknown curve ${c} (valid: ${Object.keys(CURVES).join(', ')})`,
        );
      else groups.push(CURVES[c] ?? '');
    }
    const prefer = t.prefer_server_cipher_suites;
    if (prefer !== undefined && typeof prefer !== 'boolean')
      problems.push(`${W}.prefer_server_cipher_suites: must be true or false`);
    const sans = list(t, 'client_allowed_sans', W);

    const context: SecureContextOptions = {
      ...(cert && { cert }),
      ...(key && { key }),
      ...(caCerts.length > 0 && { ca: caCerts }),
      minVersion: TLS_VERSIONS[minVersion],
      maxVersion: TLS_VERSIONS[maxVersion],
      ...(ciphers.length > 0 && { ciphers: `${TLS13_SUITES}:${ciphers.join(':')}` }),
      ...(groups.length > 0 && { ecdhCurve: groups.join(':') }),
      honorCipherOrder: prefer !== false,
    };
    if (cert && key && problems.length === 0) {
      try {
        process.getBuiltinModule('node:tls').createSecureContext(context);
      } catch (err) {
        problems.push(`${W}: certificate and key do not load together (${(err as Error).message})`);
      }
    }
    tls = { context, clientAuth, clientAllowedSans: sans };
  } else if (Object.keys(t).length > 0) {
    const set = Object.keys(t).filter((k) => t[k] !== undefined && t[k] !== null);
    if (set.length > 0) problems.push(`${W}: ${set.join(', ')} set without a certificate and key`);
  }

  // http_server_config
  const h = section('http_server_config');
  unknownKeys(h, HTTP_KEYS, 'http_server_config.');
  const http2 = h.http2 ?? true;
  if (typeof http2 !== 'boolean') problems.push('http_server_config.http2: must be true or false');
  const headers: Record<string, string> = {};
  const rawHeaders = h.headers ?? {};
  if (!isRecord(rawHeaders)) problems.push('http_server_config.headers: must be a mapping');
  else {
    for (const [name, value] of Object.entries(rawHeaders)) {
      const allowed = Object.hasOwn(EXTRA_HEADERS, name) ? EXTRA_HEADERS[name] : undefined;
      if (allowed === undefined) {
        problems.push(
          `http_server_config.headers: header "${name}" cannot be configured (allowed: ${Object.keys(EXTRA_HEADERS).join(', ')})`,
        );
      } else if (typeof value !== 'string') {
        problems.push(`http_server_config.headers.${name}: must be a string`);
      } else if (allowed && !allowed.includes(value)) {
        problems.push(`http_server_config.headers.${name}: "${value}" is not one of ${allowed.join(', ')}`);
      } else if (/[\r\n\0]/.test(value)) {
        problems.push(`http_server_config.headers.${name}: contains a control character`);
      } else if (value !== '') headers[name] = value;
    }
  }

  // basic_auth_users
  const users = new Map<string, string>();
  const rawUsers = root.basic_auth_users ?? {};
  if (!isRecord(rawUsers)) problems.push('basic_auth_users: must be a mapping of user to bcrypt hash');
  else {
    for (const [user, hash] of Object.entries(rawUsers)) {
      if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) {
        problems.push(
          `basic_auth_users.${user}: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
        );
      } else if (user.includes(':')) {
        problems.push(`basic_auth_users.${user}: a user name cannot contain ":"`);
      } else users.set(user, hash);
    }
  }

  // rate_limit
  const r = section('rate_limit');
  unknownKeys(r, RATE_KEYS, 'rate_limit.');
  let rateLimit: WebConfig['rateLimit'];
  if (Object.keys(r).length > 0) {
    const rawInterval = typeof r.interval === 'number' ? String(r.interval) : r.interval;
    const interval =
      rawInterval === undefined
        ? 0
        : typeof rawInterval === 'string'
          ? parseGoDuration(rawInterval)
          : undefined;
    const burst = r.burst ?? 0;
    if (interval === undefined)
      problems.push(
        `rate_limit.interval: not a duration like "1s" or "100ms" (got ${JSON.stringify(r.interval)})`,
      );
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 0) {
      problems.push('rate_limit.burst: must be a non-negative integer');
    } else if (interval !== undefined && interval > 0) {
      rateLimit = { intervalMs: interval, burst };
    }
  }

  if (problems.length > 0) throw new WebConfigError(file, problems);
  return { file, tls, headers, users, http2: http2 === true, rateLimit, watched };
}

/** Reads and parses the file (see parseWebConfig). */
export function loadWebConfig(file: string, read: Reader = readFileSync): WebConfig {
  let text: string;
  try {
    text = read(file).toString('utf8');
  } catch (err) {
    throw new WebConfigError(file, [
      `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    ]);
  }
  return parseWebConfig(text, file, read);
}

/**
 * What identifies a file's version without reading it: inode, size, modification and change
 * times. Kubernetes Secret volumes swap a symlink (..data), so the inode changes on rotation;
 * cert-manager writing in place changes mtime/ctime.
 */
export function fingerprint(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f, { bigint: true });
        return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

export interface WatcherLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Holds the current web configuration and re-reads it when the file or a certificate it names
 * changes (checked at most once per `minCheckMs`, when a connection or request asks). A change
 * that does not parse keeps the last good configuration and is logged once; so is an attempt to
 * switch TLS on or off, which needs a restart (the listener is either TLS or plain).
 */
export class WebConfigWatcher {
  private last: string;
  private checkedAt = 0;
  private rejected: string | undefined;

  constructor(
    private config: WebConfig,
    private readonly log: WatcherLog,
    private readonly minCheckMs = 1000,
    private readonly onChange: (config: WebConfig) => void = () => undefined,
  ) {
    this.last = fingerprint(config.watched);
  }

  current(now = Date.now()): WebConfig {
    if (now - this.checkedAt < this.minCheckMs) return this.config;
    this.checkedAt = now;
    const print = fingerprint(this.config.watched);
    if (print === this.last || print === this.rejected) return this.config;
    let next: WebConfig;
    try {
      next = loadWebConfig(this.config.file);
      if ((next.tls === undefined) !== (this.config.tls === undefined)) {
        throw new WebConfigError(this.config.file, ['switching TLS on or off needs a restart']);
      }
    } catch (err) {
      this.rejected = print;
      this.log.error(
        { file: this.config.file, code: (err as WebConfigError).code, err: (err as Error).message },
        'web configuration not reloaded; the previous one stays in force',
      );
      return this.config;
    }
    this.config = next;
    this.last = fingerprint(next.watched);
    this.rejected = undefined;
    this.log.info({ file: next.file }, 'web configuration reloaded');
    this.onChange(next);
    return next;
  }
}
