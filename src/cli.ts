#!/usr/bin/env node
// Layer: wiring. The `conntrack-exporter` executable. It first makes sure node runs with the V8
// settings and the environment the exporter's memory budget assumes (docs/flow-passes.md#memory):
// when a flag is missing from node's own flags and from NODE_OPTIONS, or a variable of NODE_ENV
// from the environment, the process replaces itself (process.execve: same PID, same file
// descriptors, so signals and a container's PID 1 are unaffected) with node running the same
// script with them added. A flag or variable given explicitly, with any value, is left alone:
// that is how an operator chooses differently.

import { NODE_ENV, NODE_FLAGS } from './node-flags.js';

/** A flag's name, the same for `--x`, `--no-x` and `--x=value` (and node's `_` for `-`). */
const flagName = (arg: string): string =>
  (arg.split('=')[0] ?? '').replaceAll('_', '-').replace(/^--no-/, '--');

function missingFlags(): string[] {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map(flagName);
  return NODE_FLAGS.filter((f) => !given.includes(flagName(f)));
}

const missing = missingFlags();
const missingEnv = Object.entries(NODE_ENV).filter(([name]) => process.env[name] === undefined);
const script = process.argv[1];
if (
  (missing.length > 0 || missingEnv.length > 0) &&
  script !== undefined &&
  typeof process.execve === 'function'
) {
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...process.execArgv, ...missing, script, ...process.argv.slice(2)],
      { ...process.env, ...Object.fromEntries(missingEnv) },
    );
  } catch {
    // Not possible here (a sandbox without execve): run with node's defaults.
  }
}
const { run } = await import('./main.js');
run();
