// Test support: the lint rules of our image over dockerfile-ast's syntax tree, plus .dockerignore
// matching. No image can be built here, so the Dockerfile is checked as parsed: stages, the final
// stage's user, command, environment and labels, and what it copies from where.

import {
  DockerfileParser,
  From,
  JSONInstruction,
  ModifiableInstruction,
  PropertyInstruction,
  type Instruction as AstInstruction,
} from 'dockerfile-ast';

export interface Instruction {
  keyword: string;
  /** The arguments (flags excluded), as the parser splits them, joined by one space. */
  args: string;
  /** The same arguments, one per element. */
  words: string[];
  /** `--name=value` flags of COPY, ADD, RUN, FROM. */
  flags: Map<string, string | null>;
  /** `key=value` properties of ARG, ENV and LABEL, unquoted. */
  properties: Map<string, string>;
  line: number;
  /** The arguments in exec (JSON array) form, when they are one. */
  json?: string[];
}

export interface Stage {
  index: number;
  name?: string;
  /** Base image with ARG defaults substituted. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  globalArgs: Map<string, string>;
  stages: Stage[];
}

function toInstruction(i: AstInstruction): Instruction {
  const words = i.getArguments().map((a) => a.getValue());
  const instr: Instruction = {
    keyword: i.getKeyword().toUpperCase(),
    args: words.join(' '),
    words,
    flags: new Map(
      i instanceof ModifiableInstruction ? i.getFlags().map((f) => [f.getName(), f.getValue()]) : [],
    ),
    properties: new Map(
      i instanceof PropertyInstruction ? i.getProperties().map((p) => [p.getName(), p.getValue() ?? '']) : [],
    ),
    line: i.getRange().start.line + 1,
  };
  const content = i.getArgumentsContent()?.trim() ?? '';
  if (i instanceof JSONInstruction && content.startsWith('[') && content.endsWith(']')) {
    instr.json = i.getJSONStrings().map((j) => j.getJSONValue());
  }
  return instr;
}

/** Parses with dockerfile-ast (the parser of the Docker language server); stages are split at
 * each FROM, whose image has the global ARG defaults substituted. */
export function parseDockerfile(text: string): Dockerfile {
  const ast = DockerfileParser.parse(text);
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const node of ast.getInstructions()) {
    const instr = toInstruction(node);
    if (node instanceof From) {
      const image = node.getExpandedArguments()[0]?.getValue() ?? '';
      const name = node.getBuildStage();
      stages.push({ index: stages.length, from: image, instructions: [], ...(name && { name }) });
    } else if (stages.length === 0) {
      if (instr.keyword !== 'ARG') throw new Error(`line ${instr.line}: only ARG may precede the first FROM`);
      for (const [k, v] of instr.properties) globalArgs.set(k, v);
    } else {
      stages[stages.length - 1]!.instructions.push(instr);
    }
  }
  if (stages.length === 0) throw new Error('no FROM instruction');
  return { globalArgs, stages };
}

/** key=value pairs of LABEL and ENV (quotes removed), including the legacy `ENV key value`. */
export function keyValues(instr: Instruction): Map<string, string> {
  return instr.properties;
}

export function finalStage(df: Dockerfile): Stage {
  return df.stages[df.stages.length - 1]!;
}

function last(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

function copies(stage: Stage): { from?: string; sources: string[]; dest: string; line: number }[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const paths = i.json ?? i.words;
      const from = i.flags.get('from') ?? undefined;
      return { sources: paths.slice(0, -1), dest: paths.at(-1) ?? '', line: i.line, ...(from && { from }) };
    });
}

function stageByRef(df: Dockerfile, ref: string): Stage | undefined {
  return df.stages.find((s) => s.name === ref) ?? (/^\d+$/.test(ref) ? df.stages[Number(ref)] : undefined);
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

const DEBIAN_NODE_24 =
  /^(docker\.io\/(library\/)?)?node:24(\.\d+){0,2}(-(bookworm|trixie))?(@sha256:[0-9a-f]{64})?$/;
const RUNTIME_NODE_24 =
  /^(gcr\.io\/distroless\/nodejs24-debian1[23](:[\w.-]+)?|(docker\.io\/(library\/)?)?node:24(\.\d+){0,2}(-(bookworm|trixie))?-slim)(@sha256:[0-9a-f]{64})?$/;
const REQUIRED_LABELS = ['title', 'description', 'source', 'licenses', 'version', 'revision'].map(
  (k) => `org.opencontainers.image.${k}`,
);

/** Everything wrong with the image definition, as human-readable lines. */
export function lintDockerfile(df: Dockerfile): string[] {
  const v: string[] = [];
  if (df.stages.length < 2) v.push('the build must be multi-stage');
  const final = finalStage(df);
  const builders = df.stages.slice(0, -1);
  if (!builders.some((s) => DEBIAN_NODE_24.test(s.from))) {
    v.push(
      `no build stage on a Debian Node 24 image (got ${builders.map((s) => s.from).join(', ') || 'none'})`,
    );
  }
  if (!RUNTIME_NODE_24.test(final.from)) {
    v.push(`the final stage must be distroless nodejs24 or node:24-slim (got ${final.from})`);
  }

  // What runs: node itself, in exec form, so SIGTERM reaches it.
  const cmd = last(final, 'CMD');
  const entrypoint = last(final, 'ENTRYPOINT');
  if (!cmd) v.push('the final stage has no CMD');
  else if (!cmd.json) v.push(`CMD must be in exec (JSON) form (line ${cmd.line})`);
  else {
    const [bin, script] = cmd.json;
    if (!bin || !/(^|\/)node$/.test(bin)) v.push(`CMD must run node directly (got ${bin ?? 'nothing'})`);
    if (!script?.endsWith('dist/src/cli.js'))
      v.push(`CMD must run dist/src/cli.js (got ${script ?? 'nothing'})`);
  }
  if (!entrypoint || entrypoint.json?.length !== 0) {
    v.push('the final stage must reset ENTRYPOINT to [] (base images set their own)');
  }

  // Who runs it: a numeric non-root UID by default (the chart opts into UID 0 for netlink).
  const user = last(final, 'USER')?.args.trim();
  if (!user) v.push('the final stage has no USER');
  else {
    const uid = user.split(':')[0] ?? '';
    if (!/^\d+$/.test(uid)) v.push(`USER must be numeric, so runAsNonRoot can be verified (got ${user})`);
    else if (uid === '0') v.push('USER must not be root');
  }

  const env = new Map<string, string>();
  for (const i of final.instructions.filter((x) => x.keyword === 'ENV'))
    for (const [k, val] of keyValues(i)) env.set(k, val);
  if (env.get('NODE_ENV') !== 'production') v.push('the final stage must set NODE_ENV=production');

  const labels = new Map<string, string>();
  for (const i of final.instructions.filter((x) => x.keyword === 'LABEL'))
    for (const [k, val] of keyValues(i)) labels.set(k, val);
  for (const k of REQUIRED_LABELS) if (!labels.get(k)) v.push(`missing OCI label ${k}`);

  // What it contains: production node_modules, the compiled exporter, package.json; no tools.
  for (const run of runs(final)) {
    v.push(`the final stage must not RUN anything (no shell in distroless): ${run}`);
  }
  for (const c of copies(final)) {
    if (!c.from) {
      for (const s of c.sources) {
        if (s !== 'package.json')
          v.push(`the final stage copies ${s} from the build context (only package.json)`);
      }
      continue;
    }
    const src = stageByRef(df, c.from);
    if (!src) {
      v.push(`COPY --from=${c.from} names no stage (line ${c.line})`);
      continue;
    }
    for (const s of c.sources) {
      const path = s.replace(/\/+$/, '');
      if (/node_modules$/.test(path)) {
        const omitDev = runs(src).some(
          (r) => /\bnpm\s+ci\b/.test(r) && /--omit[= ]dev|--production\b/.test(r),
        );
        const fullInstall = runs(src).some(
          (r) => /\bnpm\s+(ci|install|i)\b/.test(r) && !/--omit[= ]dev|--production\b/.test(r),
        );
        if (!omitDev || fullInstall) {
          v.push(
            `node_modules copied from stage ${c.from}, which does not install with npm ci --omit=dev only`,
          );
        }
      } else if (!/dist\/src$/.test(path) && !/native\/build\/nlmc\.node$/.test(path)) {
        v.push(
          `the final stage copies ${s} from stage ${c.from} (only node_modules, dist/src and native/build/nlmc.node belong there)`,
        );
      }
    }
  }
  const copied = copies(final).flatMap((c) => c.sources.map((s) => s.replace(/\/+$/, '')));
  for (const need of ['node_modules', 'dist/src', 'package.json']) {
    if (!copied.some((s) => s.endsWith(need))) v.push(`the final stage lacks ${need}`);
  }
  return v;
}

/** .dockerignore semantics: the last matching pattern wins; a match on a parent counts. */
export function dockerignoreExcludes(patterns: readonly string[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = globToRegExp(pattern);
    if (prefixes.some((p) => re.test(p))) excluded = !negate;
  }
  return excluded;
}

export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
