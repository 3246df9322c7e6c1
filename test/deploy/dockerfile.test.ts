// The Dockerfile and .dockerignore, linted over dockerfile-ast's parse (no image can be built here):
// multi-stage on Debian Node 24 -> distroless nodejs24, exec-form CMD running node, numeric
// non-root USER, NODE_ENV=production, OCI labels, only production dependencies in the final
// stage, and a build context without node_modules, .git or tests.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  dockerignoreExcludes,
  finalStage,
  keyValues,
  lintDockerfile,
  parseDockerfile,
  parseDockerignore,
} from '../support/dockerfile.js';
import { REPO_ROOT } from '../support/helm-render.js';

const dockerfileText = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const ignorePatterns = parseDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));

const GOOD = `# syntax=docker/dockerfile:1
ARG BASE=node:24-bookworm
FROM \${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY src ./src
RUN npm run build
FROM node:24-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="t" org.opencontainers.image.description="d" \\
      org.opencontainers.image.source="s" org.opencontainers.image.licenses="Apache-2.0" \\
      org.opencontainers.image.version="1" org.opencontainers.image.revision="r"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
USER 65532:65532
ENTRYPOINT []
CMD ["/nodejs/bin/node", "/app/dist/src/cli.js"]
`;

function lintText(text: string): string[] {
  return lintDockerfile(parseDockerfile(text));
}

describe('Dockerfile', () => {
  const df = parseDockerfile(dockerfileText);

  it('passes the lint', () => {
    expect(lintDockerfile(df)).toEqual([]);
  });

  it('builds on Debian Node 24 and runs on distroless nodejs24', () => {
    expect(df.stages.map((s) => [s.name ?? '(final)', s.from])).toEqual([
      ['build', 'node:24-bookworm'],
      ['deps', 'node:24-bookworm'],
      ['(final)', 'gcr.io/distroless/nodejs24-debian12:nonroot'],
    ]);
  });

  it('runs node directly as a numeric non-root user, in production mode', () => {
    const final = finalStage(df);
    const cmd = final.instructions.filter((i) => i.keyword === 'CMD').at(-1);
    expect(cmd?.json).toEqual(['/nodejs/bin/node', '/app/dist/src/cli.js']);
    expect(final.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args).toBe('65532:65532');
    const env = final.instructions.filter((i) => i.keyword === 'ENV').map((i) => keyValues(i));
    expect(env.some((m) => m.get('NODE_ENV') === 'production')).toBe(true);
    expect(final.instructions.some((i) => i.keyword === 'EXPOSE' && i.args === '9469')).toBe(true);
  });

  it('the version label defaults to the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = finalStage(df).instructions.find(
      (i) => i.keyword === 'ARG' && i.args.startsWith('VERSION='),
    );
    expect(version?.args).toBe(`VERSION=${pkg.version}`);
  });

  it('copies into the build only files that exist and that .dockerignore lets through', () => {
    for (const stage of df.stages) {
      for (const i of stage.instructions.filter((x) => x.keyword === 'COPY' && !x.flags.has('from'))) {
        const paths = (i.json ?? i.words).slice(0, -1);
        for (const p of paths) {
          expect(existsSync(join(REPO_ROOT, p)), `${p} exists`).toBe(true);
          expect(dockerignoreExcludes(ignorePatterns, p), `${p} is in the build context`).toBe(false);
        }
      }
    }
  });
});

describe('Dockerfile lint can fail', () => {
  it('accepts the reference Dockerfile', () => {
    expect(lintText(GOOD)).toEqual([]);
  });

  it('rejects a single-stage build on another base', () => {
    const v = lintText(
      'FROM node:20-alpine\nENV NODE_ENV=production\nUSER 1000\nENTRYPOINT []\nCMD ["node", "dist/src/cli.js"]\n',
    );
    expect(v).toContain('the build must be multi-stage');
    expect(v).toContain('the final stage must be distroless nodejs24 or node:24-slim (got node:20-alpine)');
  });

  it('rejects a shell-form CMD, a CMD through npm, and a kept ENTRYPOINT', () => {
    expect(lintText(GOOD.replace(/^CMD .*$/m, 'CMD node /app/dist/src/cli.js'))).toEqual([
      'CMD must be in exec (JSON) form (line 24)',
    ]);
    expect(lintText(GOOD.replace(/^CMD .*$/m, 'CMD ["npm", "start"]'))).toEqual([
      'CMD must run node directly (got npm)',
      'CMD must run dist/src/cli.js (got start)',
    ]);
    expect(lintText(GOOD.replace('ENTRYPOINT []\n', ''))).toEqual([
      'the final stage must reset ENTRYPOINT to [] (base images set their own)',
    ]);
  });

  it('rejects root, a named user, and no USER', () => {
    expect(lintText(GOOD.replace('USER 65532:65532', 'USER 0'))).toEqual(['USER must not be root']);
    expect(lintText(GOOD.replace('USER 65532:65532', 'USER nonroot'))).toEqual([
      'USER must be numeric, so runAsNonRoot can be verified (got nonroot)',
    ]);
    expect(lintText(GOOD.replace('USER 65532:65532\n', ''))).toEqual(['the final stage has no USER']);
  });

  it('rejects missing NODE_ENV and missing OCI labels', () => {
    expect(lintText(GOOD.replace('ENV NODE_ENV=production\n', 'ENV NODE_ENV=development\n'))).toEqual([
      'the final stage must set NODE_ENV=production',
    ]);
    expect(lintText(GOOD.replace(' org.opencontainers.image.revision="r"', ''))).toEqual([
      'missing OCI label org.opencontainers.image.revision',
    ]);
  });

  it('rejects dev dependencies, sources and build tools in the final stage', () => {
    expect(lintText(GOOD.replace('--from=deps /app/node_modules', '--from=build /src/node_modules'))).toEqual(
      ['node_modules copied from stage build, which does not install with npm ci --omit=dev only'],
    );
    expect(lintText(GOOD.replace('RUN npm ci --omit=dev', 'RUN npm ci'))).toEqual([
      'node_modules copied from stage deps, which does not install with npm ci --omit=dev only',
    ]);
    expect(
      lintText(GOOD.replace('COPY package.json ./\nUSER', 'COPY src ./src\nCOPY package.json ./\nUSER')),
    ).toEqual(['the final stage copies src from the build context (only package.json)']);
    expect(lintText(GOOD.replace('/src/dist/src ./dist/src', '/src ./'))).toEqual([
      'the final stage copies /src from stage build (only node_modules, dist/src and native/build/nlmc.node belong there)',
      'the final stage lacks dist/src',
    ]);
    expect(
      lintText(
        GOOD.replace('ENV NODE_ENV=production\n', 'ENV NODE_ENV=production\nRUN apt-get install -y gcc\n'),
      ),
    ).toEqual(['the final stage must not RUN anything (no shell in distroless): apt-get install -y gcc']);
  });
});

describe('.dockerignore', () => {
  it('keeps node_modules, .git, tests and local build output out of the context', () => {
    for (const p of [
      'node_modules',
      'node_modules/typescript/package.json',
      '.git',
      '.git/HEAD',
      'test',
      'test/deploy/helm.test.ts',
      'dist/src/cli.js',
      'coverage/index.html',
      '.tmp/vitest-results.json',
      'deploy/helm/conntrack-exporter/values.yaml',
      '.env',
    ]) {
      expect(dockerignoreExcludes(ignorePatterns, p), p).toBe(true);
    }
  });

  it('lets the sources and package files through', () => {
    for (const p of [
      'package.json',
      'package-lock.json',
      '.npmrc',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/cli.ts',
    ]) {
      expect(dockerignoreExcludes(ignorePatterns, p), p).toBe(false);
    }
  });

  it('the matcher follows Docker semantics (last match wins, parents count)', () => {
    expect(dockerignoreExcludes(['test'], 'test/a/b.ts')).toBe(true);
    expect(dockerignoreExcludes(['*', '!src'], 'src/a.ts')).toBe(false);
    expect(dockerignoreExcludes(['*', '!src', 'src/**/*.test.ts'], 'src/x/a.test.ts')).toBe(true);
    expect(dockerignoreExcludes(['dist'], 'node_modules/a')).toBe(false);
  });
});
