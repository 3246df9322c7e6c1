// Layer: wiring (HTTP). The thread that checks basic-auth passwords against bcrypt hashes, so
// the deliberately slow comparison (about 70 ms at cost 10) never runs on the thread that answers
// scrapes. One comparison at a time, in arrival order. Knows nothing of HTTP.

import bcrypt from 'bcryptjs';
import { parentPort } from 'node:worker_threads';

export interface CompareRequest {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
}
export interface CompareReply {
  readonly id: number;
  readonly ok: boolean;
}

parentPort?.on('message', (msg: CompareRequest) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(msg.password, msg.hash);
  } catch {
    // A hash bcryptjs cannot read never matches (the file was checked at load).
  }
  parentPort?.postMessage({ id: msg.id, ok } satisfies CompareReply);
});
