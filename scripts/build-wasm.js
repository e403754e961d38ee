#!/usr/bin/env node
// Compiles every AssemblyScript stage (assembly/<stage>/index.ts) into build/wasm/, in the release
// target and, for stages that use SIMD, a second release-simd build; `--debug` adds debug builds.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build', 'wasm');
const asc = path.join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');

/** Each stage is one module; `simd` says whether a SIMD variant is built beside the plain one. */
const STAGES = [
  { name: 'codec', simd: true },
  { name: 'image', simd: false },
];

function compile(stage, target, suffix) {
  const entry = path.join('assembly', stage.name, 'index.ts');
  if (!fs.existsSync(path.join(root, entry))) return false;
  const outFile = path.join(outDir, `${stage.name}${suffix}.wasm`);
  execFileSync(process.execPath, [asc, entry, '--config', 'asconfig.json', '--target', target, '--outFile', outFile],
    { cwd: root, stdio: 'inherit' });
  return true;
}

fs.mkdirSync(outDir, { recursive: true });
const withDebug = process.argv.includes('--debug');
for (const stage of STAGES) {
  if (!compile(stage, 'release', '')) continue;
  if (stage.simd) compile(stage, 'release-simd', '.simd');
  if (withDebug) compile(stage, 'debug', '.debug');
}
