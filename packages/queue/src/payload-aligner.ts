/** Growth factor of a kept buffer over the payload that outgrew it, because gradient payloads vary in size from step to step. */
export const BUFFER_HEADROOM = 1.25;

/**
 * Gives payloads the 4-byte alignment that typed-array views of their tensors need, in a
 * buffer it keeps. ioredis hands out replies as slices of a shared pool at any byte
 * offset. A fresh copy of each would allocate the payload's size again on every step,
 * outside the JS heap, where V8 counts it towards its next full garbage collection.
 */
export class PayloadAligner {
  private buffer = Buffer.alloc(0);

  /** Returns `payload` when it is aligned, else a copy in this aligner's buffer, valid until the next call. */
  align(payload: Buffer): Buffer {
    if (payload.byteOffset % 4 === 0) return payload;
    if (this.buffer.byteLength < payload.byteLength) {
      // A buffer of its own starts at offset 0, so it is aligned.
      this.buffer = Buffer.from(new ArrayBuffer(Math.ceil(payload.byteLength * BUFFER_HEADROOM)));
    }
    const copy = this.buffer.subarray(0, payload.byteLength);
    payload.copy(copy);
    return copy;
  }
}
