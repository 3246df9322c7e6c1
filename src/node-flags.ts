// Layer: wiring. The node flags the exporter runs with (cli.ts adds the missing ones at start).

/** V8 flags of the exporter, and why (measured by `npm run bench`). */
export const NODE_FLAGS: readonly string[] = [
  // A 1 MB young generation instead of 16 MB: the main thread's garbage is a scrape's
  // exposition, a few hundred kB; a larger nursery only grows resident memory (11 MB at rest).
  '--max-semi-space-size=1',
];
