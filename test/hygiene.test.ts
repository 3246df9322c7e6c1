// How tests wait: on a condition (test/support/wait.ts), never a fixed sleep. A sleep is either too
// short on a loaded machine (a flaky failure) or longer than needed (a slow suite), and it hides
// what the test is waiting for. This fails on any awaited fixed delay under test/.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder, ROOT } from './support/docs-check.js';

/** Lines with an awaited fixed delay: a Promise around setTimeout with a number, or sleep(number). */
export function fixedSleeps(text: string): number[] {
  const patterns = [
    /await\s+new\s+Promise\s*(?:<[^>]*>)?\s*\(\s*\(?\s*\w+\s*\)?\s*=>\s*setTimeout\s*\(\s*\w+\s*,\s*[\d_.]+\s*\)\s*\)/,
    /await\s+(?:sleep|delay|setTimeoutP|wait)\s*\(\s*[\d_.]+\s*[,)]/,
  ];
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (patterns.some((p) => p.test(line))) lines.push(i + 1);
  });
  return lines;
}

describe('tests wait on conditions', () => {
  it('no test awaits a fixed sleep (use waitFor from test/support/wait.ts)', () => {
    const found = filesUnder('test', ['.ts'])
      .filter((f) => f !== 'test/support/wait.ts')
      .flatMap((f) => fixedSleeps(readFileSync(join(ROOT, f), 'utf8')).map((line) => `${f}:${line}`));
    expect(found).toEqual([]);
  });

  it('the check finds the usual spellings', () => {
    // Spelled with a placeholder so this file does not match itself.
    const text = [
      'AWAIT new Promise((r) => setTimeout(r, 100));',
      'AWAIT new Promise<void>((resolve) => setTimeout(resolve, 1_500));',
      'AWAIT sleep(200);',
      'AWAIT waitFor(() => ready(), { timeout: 5000 });',
      'const t = setTimeout(() => child.kill(), 5_000);',
    ]
      .join('\n')
      .replace(/AWAIT/g, 'await');
    expect(fixedSleeps(text)).toEqual([1, 2, 3]);
  });
});
