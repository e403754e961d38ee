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
  dup(fd: number): number;
  pidfdGetfd(pid: number, fd: number): number;
  lazyServe(uffd: number, areas: BigUint64Array, expected: BigUint64Array): [number, number];
  lazyCopy(handle: number, address: bigint, bytes: Uint8Array): number;
  lazyFinish(handle: number, donePid?: number): LazyStats;
}

/** What a lazy restore's server did (lazyFinish). */
export interface LazyStats {
  /** Bytes copied in through the userfaultfd. */
  copied: number;
  /** Faults on pages still to come (each made the decoder take that chunk next). */
  faults: number;
  /** Faults answered with the zero page (zero in the image, or dropped by the program). */
  zeroFaults: number;
  /** Pages the program dropped (madvise) or unmapped before they were filled. */
  droppedPages: number;
  /** mremap calls that moved pages still to come. */
  remaps: number;
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

/** A copy of descriptor `fd` of process `pid` (pidfd_getfd; the same permission as ptrace attach). */
export function pidfdGetfd(pid: number, fd: number): number {
  return load().pidfdGetfd(pid, fd);
}

/** Serves a lazily restored process's userfaultfd (`uffd`, ours from now on): `areas` are the registered areas and
 *  `expected` the page runs still to come, as [start, end) pairs of image addresses. Returns the handle and a
 *  descriptor that yields the 8-byte address of each fault on a page still to come (end of file after lazyFinish). */
export function lazyServe(uffd: number, areas: bigint[], expected: bigint[]): { handle: number; faults: number } {
  const [handle, faults] = load().lazyServe(uffd, BigUint64Array.from(areas), BigUint64Array.from(expected));
  return { handle, faults };
}

/** Puts `bytes` at image address `address` of a lazily restored process (any thread); false once it has exited or
 *  the restore is over. */
export function lazyCopy(handle: number, address: bigint, bytes: Uint8Array): boolean {
  const r = load().lazyCopy(handle, address, bytes);
  if (r < 0) throw Object.assign(new Error(`UFFDIO_COPY at 0x${address.toString(16)}: errno ${-r}`), { errno: -r });
  return r === 1;
}

/** Stop serving and close the userfaultfd; with `donePid` (every page of that process is in), unregister its areas first (the process keeps a copy of the userfaultfd). */
export function lazyFinish(handle: number, donePid?: number): LazyStats {
  return load().lazyFinish(handle, donePid);
}

/** Another descriptor (close-on-exec) for the same open file as `fd`. */
export function dup(fd: number): number {
  return load().dup(fd);
}
