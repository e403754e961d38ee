// Loads an AssemblyScript-compiled stage from build/wasm synchronously (stages also run in worker threads).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { wasmDir } from '../../paths';

const modules = new Map<string, WebAssembly.Module>();

/** Reads an AssemblyScript string (UTF-16, length in the 4 bytes before it) for abort messages. */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || !ptr) return '';
  const bytes = new Uint8Array(memory.buffer);
  if (ptr < 4 || ptr > bytes.length) return '';
  const len = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (ptr + len > bytes.length) return '';
  return Buffer.from(bytes.subarray(ptr, ptr + len)).toString('utf16le');
}

/** A stage that aborted: the WebAssembly side hit an assertion. The message names the stage and source position. */
export class WasmAbort extends Error {
  constructor(stage: string, message: string, file: string, line: number, column: number) {
    super(`${stage} stage aborted: ${message || 'assertion failed'}${file ? ` at ${file}:${line}:${column}` : ''}`);
    this.name = 'WasmAbort';
  }
}

export function wasmPath(file: string): string {
  return path.join(wasmDir, file);
}

/** Compiles (once per thread) and instantiates `file` from build/wasm. */
export function instantiateStage<T extends WebAssembly.Exports>(stage: string, file: string): T {
  let mod = modules.get(file);
  if (!mod) {
    const p = wasmPath(file);
    if (!fs.existsSync(p)) throw new Error(`${p} is missing; run "npm run build" first`);
    mod = new WebAssembly.Module(fs.readFileSync(p));
    modules.set(file, mod);
  }
  let memory: WebAssembly.Memory | undefined;
  const instance = new WebAssembly.Instance(mod, {
    env: {
      abort(msg: number, file: number, line: number, column: number): never {
        throw new WasmAbort(stage, readAsString(memory, msg), readAsString(memory, file), line, column);
      },
    },
  });
  memory = instance.exports.memory as WebAssembly.Memory;
  return instance.exports as T;
}
