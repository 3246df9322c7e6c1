// Layer: collectors. The collector registry, in the spirit of node_exporter's registerCollector:
// one definition per collector says its name, whether it runs by default, what it needs of the
// host, which catalogue entries it produces, its own configuration variables and its factory.
// The configuration (valid names, defaults, the variables), the README tables and the tests all
// read these definitions; the list itself is in index.ts.

import { ExporterError } from '../errors.js';
import type { MetricDef } from '../metrics/catalog.js';
import type { Collector, CollectorContext } from './types.js';

/** What a collector needs of the host. */
export interface Requirements {
  /**
   * CAP_NET_ADMIN (every ctnetlink request needs it, reads included: net/netfilter/nfnetlink.c
   * checks it per subsystem). `required`: nothing without it; `preferred`: a procfs/sysctl
   * fallback serves it; `none`: never uses ctnetlink.
   */
  readonly netAdmin: 'required' | 'preferred' | 'none';
  /** The host's PID namespace (to see other namespaces' processes under /proc). */
  readonly hostPid: boolean;
}

/** One configuration variable; config.ts validates it with every other variable. */
export interface VariableSpec {
  readonly type: 'string' | 'integer' | 'number' | 'boolean';
  readonly default?: string | number | boolean;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  /** What a valid value looks like, for error messages and the README. */
  readonly valid: string;
  readonly description: string;
}

/** Validated values of a collector's variables, as config.ts hands them to `parse`. */
export interface SettingValues {
  /** The value after schema validation, coercion and defaults (undefined when unset without default). */
  get(name: string): string | number | boolean | undefined;
  /** Reports a problem with one of the collector's variables; the configuration then fails at start. */
  problem(name: string, why: string): void;
}

/** A collector's own configuration: its variables and how they become its options. */
export interface Settings<O> {
  readonly variables: Readonly<Record<string, VariableSpec>>;
  parse(values: SettingValues): O;
}

export interface CollectorDefinition<O = undefined> {
  /** The value of CONNTRACK_EXPORTER_COLLECTORS and of the `collector` label. */
  readonly name: string;
  readonly defaultEnabled: boolean;
  /** What it reads with CAP_NET_ADMIN and without, for the README's collector table (Markdown). */
  readonly reads: { readonly withNetAdmin: string; readonly without: string };
  readonly needs: Requirements;
  /** The catalogue entries it produces (their `collector` field is this name). */
  readonly metrics: readonly MetricDef[];
  readonly settings?: Settings<O>;
  /** Builds the collector; `options` is what `settings.parse` returned (undefined without settings). */
  create(ctx: CollectorContext, options: O): Collector;
}

export class RegistryError extends ExporterError {
  constructor(message: string) {
    super('ERR_COLLECTOR_REGISTRY', message);
  }
}

const NAME = /^[a-z][a-z0-9_]*$/;

/** Declares a collector; throws at module load when the definition contradicts the catalogue. */
export function defineCollector<O = undefined>(definition: CollectorDefinition<O>): CollectorDefinition<O> {
  if (!NAME.test(definition.name) || definition.name === 'exporter') {
    throw new RegistryError(`collector name "${definition.name}" must match ${NAME} and not be "exporter"`);
  }
  for (const metric of definition.metrics) {
    if (metric.collector !== definition.name) {
      throw new RegistryError(
        `collector ${definition.name} lists ${metric.name}, whose catalogue entry says collector ${metric.collector}`,
      );
    }
  }
  return definition;
}
