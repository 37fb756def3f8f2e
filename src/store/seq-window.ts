/**
 * Which seqs of one device are stored: the highest one and a dedupe window
 * of the {@link DEDUPE_WINDOW} seqs at and below it (SPEC: Repeats, "it
 * remembers at least the last 4096"). Pure, no I/O.
 *
 * Memory is what makes this scale to 10,000+ devices. A device that counts
 * up without gaps (the normal case) needs no bitmap at all: the window is
 * "everything from `from` to `last`", three numbers. Only a gap or an
 * out-of-order reading materialises a 512-byte ring bitmap (bit `seq % 4096`),
 * and a run of 4096 gap-free seqs drops it again.
 */

/** Seqs remembered at and below a device's highest stored seq (SPEC: at least 4096). */
export const DEDUPE_WINDOW = 4096;

const WORDS = DEDUPE_WINDOW / 32;

/**
 * What a seq is to the window:
 * - `new`: not stored yet, store it;
 * - `stored`: inside the window and stored: a repeat;
 * - `stale`: below the window, so the store cannot tell. The store treats it
 *   as a repeat (acked, not stored again): SPEC devices resume from
 *   `lastSeq + 1` and resend only their bounded unacked buffer, so a seq this
 *   old is a very late resend, and "never stored twice" is the promise kept.
 */
export type SeqStatus = 'new' | 'stored' | 'stale';

/** The window's persisted form (in the checkpoint file). */
export interface SeqWindowJson {
  /** Highest stored seq, 0 for none. */
  readonly l: number;
  /** Without a bitmap: every seq in [f, l] is stored, none below f in the window. */
  readonly f: number;
  /** The ring bitmap, base64, or null. */
  readonly b: string | null;
  /** Length of the current gap-free run ending at `l`. */
  readonly r: number;
}

/** The stored seqs of one device. */
export class SeqWindow {
  #last = 0;
  #from = 0;
  #bits: Uint32Array | null = null;
  #run = 0;

  /** Highest stored seq, or null. */
  get lastSeq(): number | null {
    return this.#last === 0 ? null : this.#last;
  }

  /** Whether the window holds a bitmap (for tests and memory figures). */
  get hasBitmap(): boolean {
    return this.#bits !== null;
  }

  /** Classifies `seq` (a safe integer ≥ 1). */
  check(seq: number): SeqStatus {
    if (this.#last === 0 || seq > this.#last) return 'new';
    if (seq <= this.#last - DEDUPE_WINDOW) return 'stale';
    if (this.#bits === null) return seq >= this.#from ? 'stored' : 'new';
    return testBit(this.#bits, seq) ? 'stored' : 'new';
  }

  /** Records `seq` as stored. A stale seq is ignored (it is never stored). */
  add(seq: number): void {
    const last = this.#last;
    if (last === 0) {
      this.#last = seq;
      this.#from = seq;
      this.#run = 1;
      return;
    }
    if (seq > last) {
      const gap = seq - last;
      this.#run = gap === 1 ? this.#run + 1 : 1;
      if (this.#bits === null) {
        if (gap === 1) {
          this.#last = seq;
          return;
        }
        if (gap >= DEDUPE_WINDOW) {
          // Nothing below the new seq is inside the window any more.
          this.#last = seq;
          this.#from = seq;
          return;
        }
        this.#materialize();
      }
      const bits = this.#bits as Uint32Array;
      if (gap >= DEDUPE_WINDOW) bits.fill(0);
      else for (let s = last + 1; s < seq; s += 1) clearBit(bits, s);
      setBit(bits, seq);
      this.#last = seq;
      if (this.#run >= DEDUPE_WINDOW) {
        // The whole window is stored again: back to three numbers.
        this.#bits = null;
        this.#from = seq - this.#run + 1;
      }
      return;
    }
    if (seq <= last - DEDUPE_WINDOW) return;
    if (this.#bits === null) {
      if (seq >= this.#from) return;
      this.#materialize();
    }
    setBit(this.#bits as Uint32Array, seq);
  }

  /** The persisted form. */
  toJSON(): SeqWindowJson {
    const b = this.#bits === null ? null : Buffer.from(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength).toString('base64');
    return { l: this.#last, f: this.#from, b, r: this.#run };
  }

  /** Restores a window from {@link toJSON}; throws on a malformed value. */
  static fromJSON(json: SeqWindowJson): SeqWindow {
    const window = new SeqWindow();
    if (![json.l, json.f, json.r].every((n) => Number.isSafeInteger(n) && n >= 0)) throw new Error('bad seq window');
    window.#last = json.l;
    window.#from = json.f;
    window.#run = json.r;
    if (json.b !== null) {
      const bytes = Buffer.from(json.b, 'base64');
      if (bytes.byteLength !== WORDS * 4) throw new Error('bad seq window bitmap');
      const bits = new Uint32Array(WORDS);
      Buffer.from(bits.buffer).set(bytes);
      window.#bits = bits;
    }
    return window;
  }

  #materialize(): void {
    const bits = new Uint32Array(WORDS);
    for (let s = Math.max(this.#from, this.#last - DEDUPE_WINDOW + 1); s <= this.#last; s += 1) setBit(bits, s);
    this.#bits = bits;
  }
}

function testBit(bits: Uint32Array, seq: number): boolean {
  const i = seq % DEDUPE_WINDOW;
  return ((bits[i >>> 5] ?? 0) & (1 << (i & 31))) !== 0;
}

function setBit(bits: Uint32Array, seq: number): void {
  const i = seq % DEDUPE_WINDOW;
  bits[i >>> 5] = (bits[i >>> 5] ?? 0) | (1 << (i & 31));
}

function clearBit(bits: Uint32Array, seq: number): void {
  const i = seq % DEDUPE_WINDOW;
  bits[i >>> 5] = (bits[i >>> 5] ?? 0) & ~(1 << (i & 31));
}
