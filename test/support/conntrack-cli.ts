// Test support: kept so branches written against the old module still build; the one
// `conntrack -L` parser is test/support/conntrack-output.ts. Import from there.

export { cliNat, cliStatus, parseConntrackLine, tally, type CliFlow } from './conntrack-output.js';
