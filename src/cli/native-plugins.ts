// dmtcp_launch's side of native plugins (native/api/dmtcp_plugin.h): gathers DMTCP_PLUGIN and every --with-plugin
// into one list of absolute paths and checks each file before the program starts, so a mistake is one line from
// dmtcp_launch rather than a program that dies at start-up. libdmtcp.so loads the list (DMTCP_PLUGIN) in every process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { optList, type Parsed } from './args';
import { CliError } from './errors';

export const PLUGIN_ENTRY = 'dmtcp_event_hook';

/** DMTCP_PLUGIN's entries, then each --with-plugin value's, in order; both may hold several paths joined by ':'.
 *  Relative paths are made absolute (the program may change directory, and exec'd programs get the list too);
 *  repeats keep their first place. */
export function nativePluginList(options: readonly string[], envValue: string | undefined, cwd = process.cwd()): string[] {
  const out: string[] = [];
  for (const entry of [envValue ?? '', ...options].flatMap((v) => v.split(':'))) {
    if (!entry) continue;
    const file = path.resolve(cwd, entry);
    if (!out.includes(file)) out.push(file);
  }
  return out;
}

/** dmtcp_launch: the checked list for DMTCP_PLUGIN (empty: no native plugin). */
export function launchNativePlugins(p: Parsed, env: NodeJS.ProcessEnv): string[] {
  const list = nativePluginList(optList(p, 'with-plugin'), env.DMTCP_PLUGIN);
  for (const file of list) checkNativePlugin(file);
  if (list.join(':').length >= 4096) throw new CliError('the native plugins\' paths together are longer than 4095 bytes', 1);
  return list;
}

/** Checks that `file` is a 64-bit x86_64 shared object defining the entry point; throws a one-line CliError. */
export function checkNativePlugin(file: string): void {
  let data: Buffer;
  try {
    if (!fs.statSync(file).isFile()) throw new CliError(`plugin ${file}: not a regular file`, 1);
    data = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`plugin ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`, 1);
  }
  const bad = (why: string) => new CliError(`plugin ${file}: ${why}`, 1);
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) throw bad('not an ELF shared object');
  if (data[4] !== 2 || data[5] !== 1 || data.readUInt16LE(18) !== 62) throw bad('not a 64-bit x86_64 object');
  if (data.readUInt16LE(16) !== 3 /* ET_DYN */) throw bad('not a shared object (build it with -shared -fPIC)');
  if (!definesDynamicSymbol(data, PLUGIN_ENTRY)) throw bad(`defines no ${PLUGIN_ENTRY} (see native/api/dmtcp_plugin.h)`);
}

/** Whether the ELF image's dynamic symbol table defines `name` (a defined function, global or weak). */
function definesDynamicSymbol(elf: Buffer, name: string): boolean {
  const shoff = Number(elf.readBigUInt64LE(40));
  const shentsize = elf.readUInt16LE(58);
  const shnum = elf.readUInt16LE(60);
  if (shoff === 0 || shentsize < 64 || shoff + shnum * shentsize > elf.length) return false;
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return { type: elf.readUInt32LE(o + 4), offset: Number(elf.readBigUInt64LE(o + 24)), size: Number(elf.readBigUInt64LE(o + 32)), link: elf.readUInt32LE(o + 40), entsize: Number(elf.readBigUInt64LE(o + 56)) };
  };
  const want = Buffer.from(`${name}\0`);
  for (let i = 0; i < shnum; i++) {
    const sym = section(i);
    if (sym.type !== 11 /* SHT_DYNSYM */ || sym.link >= shnum) continue;
    const str = section(sym.link);
    const entsize = sym.entsize || 24;
    for (let o = sym.offset; o + entsize <= sym.offset + sym.size && o + 24 <= elf.length; o += entsize) {
      const nameOff = str.offset + elf.readUInt32LE(o);
      const info = elf[o + 4];
      const shndx = elf.readUInt16LE(o + 6);
      const bind = info >> 4;
      if (shndx === 0 || (info & 0xf) !== 2 /* STT_FUNC */ || (bind !== 1 && bind !== 2)) continue;
      if (nameOff + want.length <= elf.length && elf.subarray(nameOff, nameOff + want.length).equals(want)) return true;
    }
  }
  return false;
}
