// Test support: the OTLP receiver as a process, for running inside a network namespace (see
// startReceiverIn in otlp.ts). Usage: node otlp-receiver.js '<ReceiverOptions json with port>'.
// Prints "ready", then one JSON line per request (body in base64).

import { startReceiver, type ReceiverOptions } from './otlp.js';

const options = JSON.parse(process.argv[2] ?? '{}') as ReceiverOptions;
await startReceiver(options, (r) => {
  process.stdout.write(`${JSON.stringify({ ...r, body: r.body.toString('base64') })}\n`);
});
process.stdout.write('ready\n');
