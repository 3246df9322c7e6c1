#!/usr/bin/env node
// Layer: wiring. The `conntrack-exporter` executable. It first makes sure node runs with the V8
// settings the exporter's memory budget assumes (docs/flow-passes.md#memory): when one is
// missing from node's own flags and from NODE_OPTIONS, the process replaces itself
// (process.execve: same PID, same file descriptors and environment, so signals and a container's
// PID 1 are unaffected) with node running the same script with that flag added. A flag given
// explicitly, with any value, is left alone: that is how an operator chooses differently.

import { NODE_FLAGS } from './node-flags.js';

function missingFlags(): string[] {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map(
    (a) => a.split('=')[0]?.replaceAll('_', '-') ?? '',
  );
  return NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0] ?? f));
}

const missing = missingFlags();
const script = process.argv[1];
if (missing.length > 0 && script !== undefined && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [
      process.execPath,
      ...process.execArgv,
      ...missing,
      script,
      ...process.argv.slice(2),
    ]);
  } catch {
    // Not possible here (a sandbox without execve): run with node's defaults.
  }
}
const { run } = await import('./main.js');
run();
