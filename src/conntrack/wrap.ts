// Layer: conntrack model. The kernel's per-CPU statistics are u32 and wrap; this turns each
// (cpu, counter) stream into a monotonic 64-bit count. A CPU missing from one read keeps its
// state, so when it comes back its counters continue instead of counting a wrap or a reset.

const U32 = 0x1_0000_0000;

export class CounterUnwrapper {
  private readonly last = new Map<string, { raw: number; total: number }>();

  /** Feeds one raw u32 reading; returns the unwrapped total. */
  update(key: string, raw: number): number {
    const prev = this.last.get(key);
    if (!prev) {
      this.last.set(key, { raw, total: raw });
      return raw;
    }
    // A smaller raw value means the u32 wrapped once; reads come seconds apart, and one wrap
    // needs 4 billion events, so two wraps between reads are not a case to handle.
    const delta = raw >= prev.raw ? raw - prev.raw : raw + U32 - prev.raw;
    prev.raw = raw;
    prev.total += delta;
    return prev.total;
  }
}
