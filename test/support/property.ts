// Test support: property-test budgets. Longer locally than in CI (CI=true), so a developer's run
// explores more while CI stays fast (the undici habit).

const CI = process.env.CI === 'true' || process.env.CI === '1';

/** fast-check options: `local` runs on a workstation, a tenth of it (at least 50) in CI. */
export function runs(local = 2000): { numRuns: number } {
  return { numRuns: CI ? Math.max(50, Math.floor(local / 10)) : local };
}
