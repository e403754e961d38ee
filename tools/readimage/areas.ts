// How readimage names memory areas: kind and backing names, permission strings, addresses, and the coarse
// categories (code, data, heap, stack, anonymous, file, kernel) that map and diff show.
import { AreaFlag, AreaKind, Backing, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../../src/protocol/constants';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';

export const KIND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(AreaKind).map(([k, v]) => [v, k.toLowerCase().replace('_', '-')]),
);
export const BACKING_NAMES: Record<number, string> = { [Backing.ZERO]: 'anon', [Backing.FILE]: 'file', [Backing.NONE]: 'kernel' };

export function kindName(a: Pick<AreaRecord, 'kind'>): string {
  return KIND_NAMES[a.kind] ?? String(a.kind);
}

export function backingName(a: Pick<AreaRecord, 'backing'>): string {
  return BACKING_NAMES[a.backing] ?? String(a.backing);
}

export function perms(prot: number, flags: number): string {
  return `${prot & PROT_READ ? 'r' : '-'}${prot & PROT_WRITE ? 'w' : '-'}${prot & PROT_EXEC ? 'x' : '-'}${flags & AreaFlag.SHARED ? 's' : 'p'}`;
}

/** An address as the summary table prints it: 0x and at least 12 hex digits. */
export function hexAddr(v: bigint): string {
  return '0x' + v.toString(16).padStart(12, '0');
}

export function areaPages(a: Pick<AreaRecord, 'start' | 'end'>): number {
  return Number((a.end - a.start) / BigInt(PAGE_SIZE));
}

/** The path when the area has one, else its kind in brackets (anonymous memory has no name of its own). */
export function areaLabel(a: Pick<AreaRecord, 'path' | 'kind'>): string {
  return a.path || `[${kindName(a)}]`;
}

export const CATEGORIES = ['code', 'data', 'heap', 'stack', 'anonymous', 'file', 'kernel'] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * The category a person would file an area under. Kernel memory is what the image cannot hold (backing NONE);
 * code is anything executable; data is the non-executable segments of a file that is also mapped executable (an
 * ELF object's read-only data, relro and .data); other file mappings are file; the rest follows the kind.
 */
export function category(a: AreaRecord, codeFiles: ReadonlySet<string>): Category {
  if (a.backing === Backing.NONE) return 'kernel';
  if (a.kind === AreaKind.STACK) return 'stack';
  if (a.kind === AreaKind.HEAP) return 'heap';
  if (a.prot & PROT_EXEC) return 'code';
  const fileKind = a.kind === AreaKind.FILE || a.kind === AreaKind.FILE_SHARED || a.kind === AreaKind.DELETED_FILE;
  if (fileKind && a.path && codeFiles.has(a.path)) return 'data';
  if (fileKind) return 'file';
  return 'anonymous';
}

/** Paths mapped executable somewhere in the image (the program and its libraries). */
export function codeFiles(areas: readonly AreaRecord[]): Set<string> {
  return new Set(areas.filter((a) => a.path && a.prot & PROT_EXEC && a.backing !== Backing.NONE).map((a) => a.path));
}
