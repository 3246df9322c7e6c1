// Layer: wiring. The exporter's version, read from package.json at start.

import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'conntrack-exporter' && pkg.version) return pkg.version;
    } catch {
      // Not at this depth (dist/src vs src); try the next.
    }
  }
  return 'unknown';
}

export const VERSION = readVersion();
