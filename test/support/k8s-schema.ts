// Test support: validates rendered Kubernetes objects against kubernetes-models,
// @kubernetes-models/prometheus-operator and @kubernetes-models/cert-manager. Their validate() (ajv code compiled from the OpenAPI
// schemas) checks types, enums and required fields but ignores unknown fields, which the API
// server drops silently (or rejects, with server-side field validation): a typo such as
// `readOnlyRootFileSystem` would pass. So unknown fields are checked here too, against the
// models' TypeScript declarations, which are generated from the same schemas, walked with the
// TypeScript type checker.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** The kubernetes-models module that declares apiVersion/kind. */
export function modelModule(apiVersion: string, kind: string): string {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) throw new Error(`bad kind ${kind}`);
  if (apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  if (apiVersion.startsWith('cert-manager.io/')) {
    return `@kubernetes-models/cert-manager/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** Runs the model's own validate() (types, enums, required fields); returns its error or undefined. */
export async function modelValidationError(obj: KubeObject): Promise<string | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelModule(obj.apiVersion, obj.kind))) as Record<string, unknown>;
  } catch (err) {
    return `no model for ${obj.apiVersion}/${obj.kind}: ${(err as Error).message}`;
  }
  const Model = mod[obj.kind] as ModelClass | undefined;
  if (!Model) return `no model class ${obj.kind} in ${modelModule(obj.apiVersion, obj.kind)}`;
  try {
    new Model(obj).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks object fields against the models' declarations. One TypeScript program serves every
 * check; its types are loaded on first use of each kind.
 */
export class UnknownFieldChecker {
  private readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  private readonly file: ts.SourceFile;
  private readonly kinds: readonly { apiVersion: string; kind: string }[];

  constructor(kinds: readonly { apiVersion: string; kind: string }[]) {
    this.kinds = kinds;
    const virtualName = join(REPO_ROOT, 'test', 'support', '__k8s_models__.ts');
    const lines = kinds.map(
      ({ apiVersion, kind }, i) =>
        `import type { I${kind} as M${i} } from '${modelModule(apiVersion, kind)}';`,
    );
    lines.push(`export interface Models { ${kinds.map((_, i) => `m${i}: M${i};`).join(' ')} }`);
    const source = lines.join('\n');
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2023,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, onError, shouldCreate) =>
      name === virtualName
        ? ts.createSourceFile(name, source, lang, true)
        : getSourceFile(name, lang, onError, shouldCreate);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === virtualName || fileExists(name);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === virtualName ? source : readFile(name));
    this.program = ts.createProgram([virtualName], options, host);
    this.checker = this.program.getTypeChecker();
    const file = this.program.getSourceFile(virtualName);
    if (!file) throw new Error('virtual models file not loaded');
    this.file = file;
    const diagnostics = ts.getPreEmitDiagnostics(this.program, file);
    if (diagnostics.length > 0) {
      const text = ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => REPO_ROOT,
        getNewLine: () => '\n',
      });
      throw new Error(`cannot load the model declarations:\n${text}`);
    }
  }

  private modelType(apiVersion: string, kind: string): ts.Type {
    const index = this.kinds.findIndex((k) => k.apiVersion === apiVersion && k.kind === kind);
    if (index < 0) throw new Error(`${apiVersion}/${kind} was not declared to the checker`);
    const models = this.file.statements.find(ts.isInterfaceDeclaration);
    if (!models) throw new Error('Models interface missing');
    const prop = this.checker.getTypeAtLocation(models).getProperty(`m${index}`);
    if (!prop) throw new Error(`m${index} missing`);
    return this.checker.getTypeOfSymbol(prop);
  }

  /** Every field of obj that its model does not declare, as "path: message". */
  unknownFields(obj: KubeObject): string[] {
    const errors: string[] = [];
    this.walk(obj, this.modelType(obj.apiVersion, obj.kind), obj.kind, errors);
    return errors;
  }

  private walk(value: unknown, declared: ts.Type, path: string, errors: string[]): void {
    if (value === null || value === undefined) return;
    const type = this.checker.getNonNullableType(declared);
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (type.isUnion()) {
      const candidates = type.types.filter((t) => this.accepts(t, value));
      if (candidates.length === 0) return; // A primitive mismatch: validate() reports it.
      // Keep the candidate that explains the value best (fewest unknown fields).
      let best: string[] | undefined;
      for (const candidate of candidates) {
        const e: string[] = [];
        this.walk(value, candidate, path, e);
        if (!best || e.length < best.length) best = e;
        if (e.length === 0) break;
      }
      errors.push(...(best ?? []));
      return;
    }
    if (Array.isArray(value)) {
      if (!this.checker.isArrayType(type) && !this.checker.isTupleType(type)) return;
      const element = this.checker.getTypeArguments(type as ts.TypeReference)[0];
      if (!element) return;
      value.forEach((item, i) => this.walk(item, element, `${path}[${i}]`, errors));
      return;
    }
    if (typeof value !== 'object') return;
    if (!(type.flags & ts.TypeFlags.Object)) return;
    const index = this.checker.getIndexInfoOfType(type, ts.IndexKind.String);
    const props = this.checker.getPropertiesOfType(type);
    // `{}`-like declarations (RawExtension, free-form JSON) accept anything.
    if (props.length === 0 && !index) return;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const prop = type.getProperty(key);
      const childPath = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (prop) this.walk(child, this.checker.getTypeOfSymbol(prop), childPath, errors);
      else if (index) this.walk(child, index.type, childPath, errors);
      else errors.push(`${childPath}: unknown field "${key}"`);
    }
  }

  /** Whether a union member can describe value at all (array vs object vs primitive). */
  private accepts(t: ts.Type, value: unknown): boolean {
    if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return true;
    const isArrayType = this.checker.isArrayType(t) || this.checker.isTupleType(t);
    if (Array.isArray(value)) return isArrayType;
    if (typeof value === 'object' && value !== null)
      return !isArrayType && (t.flags & ts.TypeFlags.Object) !== 0;
    return (t.flags & ts.TypeFlags.Object) === 0;
  }
}
