// The wiring in src/main.ts, in process: the command line, configuration errors (every problem,
// exit 2, nothing on stdout), and `once` built from the configuration over files recorded from the
// kernel (test/fixtures/stats.json as /proc): which collectors run, where they read, what fails
// and what is absent. Serving over HTTP and signals: test/process.test.ts (the real process).

import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VARIABLES } from '../src/config/config.js';
import { main } from '../src/main.js';
import { VERSION } from '../src/version.js';
import { parseExposition, select, valueOf, type ExpoSample } from './support/exposition.js';
import { procTree, type ProcTree } from './support/proc-tree.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  // Logs go to fd 2 (src/log.ts); silence them, the streams carry what main writes itself.
  const code = await main(argv, { CONNTRACK_EXPORTER_LOG_LEVEL: 'silent', ...env }, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('command line', () => {
  it('--help lists every variable with its default, on stdout, exit 0', async () => {
    const { code, stdout, stderr } = await run(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const [name, spec] of Object.entries(VARIABLES)) {
      expect(stdout).toContain(
        spec.default === undefined ? `  ${name}\n` : `  ${name} (default ${JSON.stringify(spec.default)})\n`,
      );
    }
  });

  it('--version prints the version alone', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it.each([[['serve']], [['once', 'twice']], [['--verbose']]])(
    'refuses %j with the usage on stderr, exit 2',
    async (argv) => {
      const { code, stdout, stderr } = await run(argv);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^conntrack-exporter: unknown arguments: /);
      expect(stderr).toContain('Usage: conntrack-exporter');
    },
  );

  it('reports every configuration problem at once, by variable name, exit 2, before touching anything', async () => {
    const { code, stdout, stderr } = await run(['once'], {
      CONNTRACK_EXPORTER_FLOW_TOP_K: '0',
      CONNTRACK_EXPORTER_COLLECTORS: 'table,nope',
      CONNTRACK_EXPORTER_PROC_PATH: 'relative/proc',
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    for (const name of [
      'CONNTRACK_EXPORTER_FLOW_TOP_K',
      'CONNTRACK_EXPORTER_COLLECTORS',
      'CONNTRACK_EXPORTER_PROC_PATH',
    ]) {
      expect(stderr).toMatch(new RegExp(`^ {2}- ${name}: `, 'm'));
    }
    expect(stderr.match(/^ {2}- /gm)).toHaveLength(3);
  });
});

describe('once, over recorded /proc files', () => {
  let tree: ProcTree;
  const once = async (
    env: Record<string, string>,
    expectedStderr = '',
  ): Promise<{ code: number; samples: ExpoSample[] }> => {
    const { code, stdout, stderr } = await run(['once'], {
      CONNTRACK_EXPORTER_SOURCE: 'procfs',
      CONNTRACK_EXPORTER_PROC_PATH: tree.path,
      ...env,
    });
    expect(stderr).toBe(expectedStderr);
    return { code, samples: parseExposition(stdout) };
  };

  beforeAll(async () => {
    tree = await procTree('stats');
  });

  afterAll(async () => {
    await tree?.remove();
  });

  it('runs exactly the configured collectors, each from the source the configuration chose', async () => {
    const { code, samples } = await once({ CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats' });
    expect(code).toBe(0);
    expect(
      select(samples, 'conntrack_scrape_collector_success').map((s) => [s.labels['collector'], s.value]),
    ).toEqual([
      ['table', 1],
      ['cpu_stats', 1],
    ]);
    expect(
      valueOf(samples, 'conntrack_collector_source_info', { collector: 'table', source: 'sysctl' }),
    ).toBe(1);
    expect(
      valueOf(samples, 'conntrack_collector_source_info', { collector: 'cpu_stats', source: 'procfs' }),
    ).toBe(1);
    expect(valueOf(samples, 'conntrack_entries')).toBe(4);
    // expect_stats was not asked for: its series are absent, not zero.
    expect(samples.filter((s) => s.name.startsWith('conntrack_expect_stat_'))).toEqual([]);
  });

  it('reports flows as failing without ctnetlink, and still prints the rest', async () => {
    const { code, samples } = await once({ CONNTRACK_EXPORTER_COLLECTORS: 'table,flows' });
    expect(code).toBe(0);
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'flows' })).toBe(0);
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'table' })).toBe(1);
    expect(select(samples, 'conntrack_flows')).toEqual([]);
  });

  it('reports a collector whose files are missing as failing, with its metrics absent; every one failing is exit 1', async () => {
    const { code, samples } = await once(
      {
        CONNTRACK_EXPORTER_COLLECTORS: 'table,cpu_stats',
        CONNTRACK_EXPORTER_PROC_PATH: `${tree.path}/nowhere`,
      },
      'conntrack-exporter: every collector failed (see conntrack_scrape_collector_success)\n',
    );
    // The exposition is still printed; the exit code says nothing was collected (issue 11).
    expect(code).toBe(1);
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'table' })).toBe(0);
    expect(valueOf(samples, 'conntrack_scrape_collector_success', { collector: 'cpu_stats' })).toBe(0);
    expect(select(samples, 'conntrack_entries')).toEqual([]);
    expect(samples.filter((s) => s.name.startsWith('conntrack_stat_'))).toEqual([]);
  });

  it('adds the self-metrics, but no OTLP health: once pushes nothing', async () => {
    const { samples } = await once({ CONNTRACK_EXPORTER_COLLECTORS: 'table', OTEL_METRICS_EXPORTER: 'otlp' });
    expect(valueOf(samples, 'conntrack_exporter_build_info', { version: VERSION })).toBe(1);
    expect(valueOf(samples, 'conntrack_netlink_malformed_messages_total')).toBe(0);
    expect(select(samples, 'conntrack_otlp_export_failures_total')).toEqual([]);
  });
});
