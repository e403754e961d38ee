// dmtcp_launch's list of native plugins: DMTCP_PLUGIN first, then each --with-plugin, ':'-separated, absolute, once.
import * as assert from 'node:assert/strict';
import { nativePluginList } from '../../src/cli/native-plugins';

describe('native plugin list', () => {
  const cases: [string, string[], string | undefined, string[]][] = [
    ['none', [], undefined, []],
    ['empty variable and entries', ['::'], '', []],
    ['one option', ['/p/a.so'], undefined, ['/p/a.so']],
    ['a list in one option', ['/p/a.so:/p/b.so'], undefined, ['/p/a.so', '/p/b.so']],
    ['repeated option keeps order', ['/p/b.so', '/p/a.so'], undefined, ['/p/b.so', '/p/a.so']],
    ['variable before options', ['/p/c.so'], '/p/a.so:/p/b.so', ['/p/a.so', '/p/b.so', '/p/c.so']],
    ['relative to the working directory', ['x.so', '../y.so'], undefined, ['/work/dir/x.so', '/work/y.so']],
    ['a repeat keeps its first place', ['/p/b.so', '/p/a.so:/p/b.so'], '/p/a.so', ['/p/a.so', '/p/b.so']],
  ];
  for (const [name, options, env, expected] of cases) {
    it(name, () => assert.deepEqual(nativePluginList(options, env, '/work/dir'), expected));
  }
});
