// Layer: wiring. The node flags and environment the exporter runs with (cli.ts adds the missing
// ones at start).

/** V8 flags of the exporter, and why (measured by `npm run bench`). */
export const NODE_FLAGS: readonly string[] = [
  // A 1 MB young generation instead of 16 MB: the main thread's garbage is a scrape's
  // exposition, a few hundred kB; a larger nursery only grows resident memory (11 MB at rest).
  '--max-semi-space-size=1',
  // No Maglev (V8's mid-tier compiler): hot code goes from the baseline tier straight to
  // TurboFan. Its compiler code and zones are 3 MB of resident memory at rest and 4-6 MB at the
  // peak of a pass over 1M flows; passes cost the same (their loops reach TurboFan within the
  // first pass), a scrape about 0.5 ms more (its code stays longer in the baseline tier).
  '--no-maglev',
];

/** Environment variables of the exporter, and why (docs/flow-passes.md#memory). */
export const NODE_ENV: Readonly<Record<string, string>> = {
  // One glibc malloc arena instead of one per thread (up to 8 per core): the flow worker's
  // datagrams and V8's compiler zones otherwise leave a few MB of free pages in each of five or
  // more arenas. At 1M flows: 10 MB less resident between passes, about 10 MB lower peaks.
  MALLOC_ARENA_MAX: '1',
};
