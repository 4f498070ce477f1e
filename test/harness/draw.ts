import { splitmix64 } from "@mnist/spec";

/** Seeded bytes and mutations of valid encodings. */
export class Draw {
  private readonly next: () => number;
  constructor(seed: bigint) {
    this.next = splitmix64(seed);
  }

  /** A uniform draw in [0, 1). */
  fraction(): number {
    return this.next();
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.int(256));
  }

  /** Mostly short bodies (where wire-format accidents happen), some long ones. */
  randomBody(): Uint8Array {
    const roll = this.next();
    return this.bytes(roll < 0.5 ? this.int(17) : roll < 0.85 ? 17 + this.int(240) : 257 + this.int(8_000));
  }

  /** A valid encoding with one to four mutations: bit flips, boundary bytes, NaN/±Inf doubles, 10-byte (negative) varints, cuts and splices. */
  mutate(valid: Uint8Array): Uint8Array {
    const bytes = [...valid];
    const at = () => this.int(bytes.length + 1);
    const specials = [NaN, Infinity, -Infinity, -1, 1e308, -0, 5e-324, 4294967296];
    for (let round = 1 + this.int(4); round > 0; round--) {
      const op = bytes.length === 0 ? 3 : this.int(9);
      if (op === 0) bytes[this.int(bytes.length)]! ^= 1 << this.int(8);
      else if (op === 1) bytes[this.int(bytes.length)] = this.int(256);
      else if (op === 2) bytes[this.int(bytes.length)] = this.pick([0x00, 0x01, 0x7f, 0x80, 0xff]);
      else if (op === 3) bytes.splice(at(), 0, ...this.bytes(1 + this.int(8)));
      else if (op === 4) bytes.splice(this.int(bytes.length), 1 + this.int(8));
      else if (op === 5) bytes.length = this.int(bytes.length);
      else if (op === 6) {
        const from = this.int(bytes.length);
        bytes.splice(at(), 0, ...bytes.slice(from, from + 1 + this.int(16)));
      } else if (op === 7) {
        const double = Buffer.alloc(8);
        double.writeDoubleLE(this.pick(specials));
        bytes.splice(this.int(bytes.length), 8, ...double);
      } else bytes.splice(at(), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    }
    return Uint8Array.from(bytes);
  }
}
