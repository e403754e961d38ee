// Where the built artifacts live, found from this file's location (dist/src/paths.js) so any working directory works.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the dmtcp-ts package root above ${__dirname}`);
    dir = up;
  }
}

export const packageRoot = findRoot();
export const buildDir = path.join(packageRoot, 'build');
export const nativeDir = path.join(buildDir, 'native');
export const wasmDir = path.join(buildDir, 'wasm');
export const libdmtcp = path.join(nativeDir, 'libdmtcp.so');
export const mtcpRestart = path.join(nativeDir, 'mtcp_restart');
export const testProgramsDir = path.join(buildDir, 'test-programs');
export const binDir = path.join(packageRoot, 'bin');

/** The command line that runs one of our bin entries with this same Node (scripts we write use it). */
export function binCommand(name: string): string[] {
  return [process.execPath, path.join(binDir, `${name}.js`)];
}
