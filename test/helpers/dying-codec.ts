// A codec module whose loading ends the worker thread that loads it (test/unit/worker-pool.test.ts).
export function createCodec(): never {
  process.exit(7);
}
