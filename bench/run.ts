// `npm run bench [-- <part>... [--option value]...]`: runs the bench parts named (default: every
// part). A part is a module in bench/ that exports `benchPart(argv)`; adding one needs no edit here.

import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Part = (argv: readonly string[]) => Promise<void>;

const DIR = fileURLToPath(new URL('./', import.meta.url));

async function parts(): Promise<Map<string, Part>> {
  const out = new Map<string, Part>();
  for (const file of readdirSync(DIR).sort()) {
    if (!file.endsWith('.js') || file === 'run.js' || file.includes('-child') || file === 'fill.js') continue;
    const mod = (await import(`${DIR}${file}`)) as { benchPart?: Part };
    if (mod.benchPart) out.set(file.replace(/\.js$/, ''), mod.benchPart);
  }
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const known = await parts();
  const named = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  const options = argv.filter((a) => !named.includes(a));
  const chosen = named.length > 0 ? named : [...known.keys()];
  for (const name of chosen) {
    const part = known.get(name);
    if (!part) throw new Error(`unknown bench part ${name}; known: ${[...known.keys()].join(', ')}`);
    await part(options);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
