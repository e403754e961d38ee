// What a codec is to the worker threads that run it: a module exporting createCodec(options) -> CodecImpl.
// Built-in codecs live in src/codecs/; third-party codec plugins ship a module of the same shape.

export interface CodecImpl {
  /** Encoded bytes, or null when encoding would not pay (the chunk is then stored as it is). */
  compress(raw: Uint8Array): Uint8Array | null;
  /** Decoded bytes, exactly `rawLength` long; throws on corrupt input. */
  decompress(stored: Uint8Array, rawLength: number): Uint8Array;
}

export type CreateCodec = (options: Readonly<Record<string, unknown>>) => CodecImpl;

/** Raised by codecs for undecodable input; the reader adds the image path and offset. */
export class CorruptPayload extends Error {
  constructor(codec: string, detail: string) {
    super(`${codec} payload is corrupt: ${detail}`);
    this.name = 'CorruptPayload';
  }
}
