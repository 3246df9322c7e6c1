// Test support: certificates made with the real openssl CLI in a temp dir (a CA, a server
// certificate for localhost/127.0.0.1, a client certificate signed by the CA, one signed by another
// CA) and bcrypt hashes made with Apache's htpasswd, as an operator would make them.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  readonly dir: string;
  /** Path of a file in the dir. */
  path(name: string): string;
  read(name: string): Promise<Buffer>;
  /** Issues a new server certificate (new key, subject CN=`cn`) into server.crt/server.key. */
  issueServer(cn: string): Promise<void>;
  remove(): Promise<void>;
}

/** A new P-256 key, unencrypted. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function issue(dir: string, name: string, cn: string, ca: string, ext: string): Promise<void> {
  await openssl(dir, [
    'req',
    ...EC_KEY,
    '-keyout',
    `${name}.key.new`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt.new`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
  // Replace both files by rename, as a Secret volume update or cert-manager would.
  await run('mv', ['-f', `${name}.key.new`, `${name}.key`], { cwd: dir });
  await run('mv', ['-f', `${name}.crt.new`, `${name}.crt`], { cwd: dir });
}

/** CA "ca", server "server" (CN=server-1, SAN localhost + 127.0.0.1), client "client", and "stranger" from CA "other". */
export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'ct-pki-'));
  for (const ca of ['ca', 'other']) {
    await openssl(dir, [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${ca}-test-ca`,
    ]);
  }
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
  await issue(dir, 'server', 'server-1', 'ca', serverExt);
  await issue(
    dir,
    'client',
    'prometheus',
    'ca',
    'subjectAltName=DNS:prometheus.monitoring\nextendedKeyUsage=clientAuth\n',
  );
  await issue(
    dir,
    'stranger',
    'stranger',
    'other',
    'subjectAltName=DNS:prometheus.monitoring\nextendedKeyUsage=clientAuth\n',
  );
  return {
    dir,
    path: (name) => join(dir, name),
    read: (name) => readFile(join(dir, name)),
    issueServer: (cn) => issue(dir, 'server', cn, 'ca', serverExt),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `htpasswd -nbBC <cost> "" <password>`: the bcrypt hash alone ($2y$...). */
export async function htpasswdHash(password: string, cost = 10): Promise<string> {
  const { stdout } = await run('htpasswd', ['-nbBC', String(cost), '', password]);
  return stdout.trim().replace(/^:/, '');
}
