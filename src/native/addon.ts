// Typed access to the native addon (native/addon/addon.cc): exec in place, detached processes, inheritable pipes.
import * as path from 'node:path';
import { packageRoot } from '../paths';

interface AddonExports {
  execve(file: string, argv: string[], env: string[]): never;
  spawnDetached(file: string, argv: string[], env: string[], keepFds: number[], quiet: boolean): number;
  pipe(): [number, number];
  setCloexec(fd: number, on: boolean): void;
  setPipeSize(fd: number, bytes: number): number;
  processVm(write: boolean, pid: number, remote: bigint, buffer: Uint8Array): number;
  alignedBuffer(bytes: number, alignment: number): ArrayBuffer;
  addressOf(view: Uint8Array): bigint;
}

let addon: AddonExports | undefined;

function load(): AddonExports {
  if (!addon) {
    const file = path.join(packageRoot, 'native', 'addon', 'build', 'Release', 'dmtcp_addon.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      addon = require(file) as AddonExports;
    } catch (e) {
      throw new Error(`the native addon is missing (${file}); run "npm run build" first`, { cause: e });
    }
  }
  return addon;
}

/** Environment as execve wants it. */
export function envList(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
}

/** Replaces this process with `file`; returns only by throwing. Output written before must already be flushed. */
export function execve(file: string, argv: string[], env: NodeJS.ProcessEnv): never {
  return load().execve(file, argv, envList(env));
}

/** Starts `file` as a grandchild in a new session (nobody's child here), keeping `keepFds` open; `quiet` gives it
 *  /dev/null for stdin, stdout and stderr. Returns its pid. */
export function spawnDetached(file: string, argv: string[], env: NodeJS.ProcessEnv, keepFds: number[] = [], quiet = false): number {
  return load().spawnDetached(file, argv, envList(env), keepFds, quiet);
}

/** A pipe whose ends are close-on-exec until setCloexec(fd, false). */
export function pipe(): { read: number; write: number } {
  const [read, write] = load().pipe();
  return { read, write };
}

export function setCloexec(fd: number, on: boolean): void {
  load().setCloexec(fd, on);
}

/** Zeroed memory starting on an `alignment` boundary, for O_DIRECT transfers (Node cannot align its buffers). */
export function alignedBuffer(bytes: number, alignment: number): ArrayBuffer {
  return load().alignedBuffer(bytes, alignment);
}

/** The memory address of a view's first byte. */
export function addressOf(view: Uint8Array): bigint {
  return load().addressOf(view);
}

export function setPipeSize(fd: number, bytes: number): number {
  return load().setPipeSize(fd, bytes);
}

/** Copies buffer.length bytes of process `pid`'s memory at `remote` into `buffer` (same user, ptrace-readable). */
export function processVmRead(pid: number, remote: bigint, buffer: Uint8Array): void {
  load().processVm(false, pid, remote, buffer);
}

/** Copies `buffer` into process `pid`'s memory at `remote`. */
export function processVmWrite(pid: number, remote: bigint, buffer: Uint8Array): void {
  load().processVm(true, pid, remote, buffer);
}
