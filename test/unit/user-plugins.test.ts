// User plugins (docs/PLUGINS.md): plugin specs, loading with one-line errors naming the file, what an image needs at
// restart and the messages when it cannot have it, and the plugin list restarted processes keep.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  UserPluginError,
  formatPluginSpec,
  loadAll,
  loadPlugin,
  neededPlugins,
  parsePluginList,
  parsePluginSpec,
  pluginListAfterRestart,
  restorePluginSections,
  type RecordedPlugin,
} from '../../src/plugins/user-plugins';
import type { ProcessStrings } from '../../src/pipeline/types';

describe('user plugins', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-user-plugins-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  describe('specs', () => {
    it('parses a path and its options, relative to a base', () => {
      const s = parsePluginSpec('p/x.js,dir=/data,maxBytes=10', '/base');
      assert.deepEqual({ ...s, options: { ...s.options } }, { file: '/base/p/x.js', options: { dir: '/data', maxBytes: '10' } });
      assert.equal(formatPluginSpec(s), '/base/p/x.js,dir=/data,maxBytes=10');
      assert.deepEqual(parsePluginList('/a.js:/b.js,k=v:', '/').map(formatPluginSpec), ['/a.js', '/b.js,k=v']);
    });

    const bad: [string, RegExp][] = [
      ['x.js,nokey', /^UserPluginError: plugin "x\.js,nokey": option "nokey" must be KEY=VALUE$/],
      ['x.js,=v', /option "=v" must be KEY=VALUE/],
      [',k=v', /no path before the options/],
      ['x.js,dir=a:b', /option dir may not contain ':'/],
    ];
    for (const [spec, re] of bad) {
      it(`refuses ${JSON.stringify(spec)}`, () => assert.throws(() => parsePluginSpec(spec, '/'), re));
    }
  });

  describe('loading', () => {
    const cases: [string, string | null, RegExp][] = [
      ['missing.js', null, /^cannot load plugin \S+missing\.js: no such file$/],
      ['syntax.js', 'module.exports = {', /^cannot load plugin \S+syntax\.js: syntax error: Unexpected end of input$/],
      ['throws.js', 'throw new Error("boom\\nsecond line");', /^cannot load plugin \S+throws\.js: boom$/],
      ['nothing.js', 'module.exports = 42;', /^cannot load plugin \S+nothing\.js: it exports number; a plugin exports an object/],
      ['badname.js', 'module.exports = { name: "Bad Name", checkpoint() {} };', /its name must be lower-case letters, digits, '\.', '_' or '-', got "Bad Name"$/],
      ['idle.js', 'module.exports = { name: "idle" };', /it has nothing to do/],
      ['notfn.js', 'module.exports = { name: "x", restart: 3 };', /its restart must be a function, got number$/],
      ['codecid.js', 'module.exports = { name: "c", codecs: [{ name: "z", id: 3, module: __filename }] };', /codec z: id must be 16-255, got 3$/],
      ['codecname.js', 'module.exports = { name: "c", codecs: [{ name: "dlz", id: 20, module: __filename }] };', /codec name "dlz" is taken by a built-in codec$/],
      ['codecmod.js', 'module.exports = { name: "c", codecs: [{ name: "z", id: 20, module: "nope.js" }] };', /codec z: its module \S+nope\.js does not exist$/],
    ];
    for (const [name, text, re] of cases) {
      it(`one line for ${name}`, () => {
        const file = text === null ? path.join(dir, name) : write(name, text);
        assert.throws(() => loadPlugin(file), (e: Error) => {
          assert.ok(e instanceof UserPluginError, `${e.name}: ${e.message}`);
          assert.equal(e.message.split('\n').length, 1);
          assert.match(e.message, re);
          assert.ok(e.message.includes(file), 'names the file');
          return true;
        });
      });
    }

    it('refuses a plugin file every user may change', () => {
      const file = write('open.js', 'module.exports = { name: "open", checkpoint() {} };');
      fs.chmodSync(file, 0o666);
      assert.throws(() => loadPlugin(file), /^UserPluginError: cannot load plugin \S+open\.js: it is writable by every user; chmod o-w it$/);
    });

    it('loads an ES module where Node can require() one, else says it is one', () => {
      const file = write('esm.mjs', 'export default { name: "m", checkpoint() {} };');
      let name: string | undefined;
      try {
        name = loadPlugin(file).plugin.name;
      } catch (e) {
        assert.match((e as Error).message, /^cannot load plugin \S+esm\.mjs: it is an ES module; plugins are CommonJS/);
        return;
      }
      assert.equal(name, 'm');
    });

    it('loads a plugin once, whether module.exports or export default', () => {
      const a = write('a.js', 'module.exports = { name: "a", checkpoint() { return { s: "x" }; } };');
      const b = write('b.js', 'Object.defineProperty(exports, "__esModule", { value: true }); exports.default = { name: "b", restart() {} };');
      assert.equal(loadPlugin(a), loadPlugin(a));
      assert.equal(loadPlugin(b).plugin.name, 'b');
    });

    it('refuses two plugins of one name, and two codecs of one id', () => {
      const one = write('one.js', 'module.exports = { name: "same", checkpoint() {} };');
      const two = write('two.js', 'module.exports = { name: "same", restart() {} };');
      assert.throws(() => loadAll([{ file: one, options: {} }, { file: two, options: {} }]), /^UserPluginError: plugins \S+one\.js and \S+two\.js are both named "same"; pass only one$/);
      const c1 = write('c1.js', 'module.exports = { name: "c1", codecs: [{ name: "z1", id: 40, module: __filename }] };');
      const c2 = write('c2.js', 'module.exports = { name: "c2", codecs: [{ name: "z2", id: 40, module: __filename }] };');
      assert.throws(() => loadAll([{ file: c1, options: {} }, { file: c2, options: {} }]), /codec z2 \(id 40\) of \S+c2\.js clashes with codec z1 \(id 40\) of \S+c1\.js/);
    });
  });

  describe('at restart', () => {
    const rec = (r: Partial<RecordedPlugin> & { name: string; path: string }): RecordedPlugin => ({ options: {}, sections: [], codecs: [], ...r });

    it('needs the plugins with sections or whose codec the chunks use, loaded from where the image says', () => {
      const saver = write('saver.js', 'module.exports = { name: "saver", checkpoint() {}, restart() {} };');
      const meta = {
        codecs: { 0: 'stored', 1: 'dlz' },
        userPlugins: [rec({ name: 'saver', path: saver, sections: ['s'] }), rec({ name: 'idle', path: '/gone/idle.js' })],
      };
      const needed = neededPlugins('img.dmtcp', meta, []);
      assert.deepEqual(needed.map((n) => n.active.loaded.file), [saver], 'the plugin without sections is not needed');
    });

    it('says which plugin an image needs and what to pass', () => {
      const meta = { codecs: { 0: 'stored', 16: 'brotli' }, userPlugins: [rec({ name: 'brotli', path: '/gone/brotli.js', codecs: ['brotli'] }), rec({ name: 'workdir', path: '/gone/w.js', sections: ['manifest', 'data'] })] };
      assert.throws(() => neededPlugins('img.dmtcp', meta, []), (e: Error) => {
        assert.equal(e.message, 'img.dmtcp needs plugin "brotli" (codec brotli), recorded as /gone/brotli.js, which cannot be loaded (no such file); pass --plugin PATH');
        return true;
      });
      const brotli = path.join(__dirname, '..', '..', 'examples', 'brotli-codec', 'index.js');
      const given = loadAll([parsePluginSpec(brotli)]);
      assert.throws(() => neededPlugins('img.dmtcp', meta, given), /^UserPluginError: img\.dmtcp needs plugin "workdir" \(its sections manifest, data\), recorded as \/gone\/w\.js, which cannot be loaded \(no such file\); pass --plugin PATH$/);
      assert.throws(() => neededPlugins('img.dmtcp', { codecs: { 17: 'zstd' } }, []), /^UserPluginError: img\.dmtcp uses codec "zstd", which no plugin given here provides; pass --plugin PATH of the plugin that provides it$/);
    });

    it('gives each plugin its own sections, in the reverse order of checkpoint, with the options it had', async () => {
      const trace: string[] = [];
      (globalThis as Record<string, unknown>).__restoreTrace = trace;
      const mk = (n: string) => write(`${n}.js`, `module.exports = { name: "${n}", restart(ctx, s) { globalThis.__restoreTrace.push("${n}:" + ctx.options.k + ":" + [...s].map(([k, v]) => k + "=" + v).join(",") + ":" + ctx.pid); } };`);
      const [first, second] = [mk('first'), mk('second')];
      const meta = { userPlugins: [rec({ name: 'first', path: first, sections: ['a'], options: { k: '1' } }), rec({ name: 'second', path: second, sections: ['b'], options: { k: '2' } })] };
      const needed = neededPlugins('img.dmtcp', meta, []);
      const sections = new Map([['first/a', Buffer.from('A')], ['second/b', Buffer.from('B')], ['other/c', Buffer.from('C')]]);
      const strings = { program: 'p', argv: [], cwd: '/', host: 'h', vpid: 42, computation: 'c', workerId: 'w' } as unknown as ProcessStrings;
      await restorePluginSections({ path: 'img.dmtcp', strings, generation: 3, sections }, needed);
      assert.deepEqual(trace, ['second:2:b=B:42', 'first:1:a=A:42']);
    });

    it('reports a plugin that fails to restore in one line', async () => {
      const bad = write('bad.js', 'module.exports = { name: "bad", restart() { throw new Error("disk full"); } };');
      const needed = neededPlugins('img.dmtcp', { userPlugins: [rec({ name: 'bad', path: bad, sections: ['x'] })] }, []);
      const strings = { argv: [] } as unknown as ProcessStrings;
      await assert.rejects(restorePluginSections({ path: 'img.dmtcp', strings, generation: 1, sections: new Map() }, needed), /^UserPluginError: plugin bad \(\S+bad\.js\) failed to restore img\.dmtcp: disk full$/);
    });

    it('keeps the launch\'s plugins after a restart, replaced by name by those given', () => {
      const w2 = write('w2.js', 'module.exports = { name: "workdir", restart() {} };');
      const metas = [{ userPlugins: [rec({ name: 'workdir', path: '/old/w.js', options: { dir: '/d' } }), rec({ name: 'brotli', path: '/old/b.js' })] }];
      assert.equal(pluginListAfterRestart(metas, []), undefined, 'nothing given: the processes keep their own list');
      assert.equal(pluginListAfterRestart(metas, loadAll([parsePluginSpec(w2)])), `${w2},dir=/d:/old/b.js`);
      assert.equal(pluginListAfterRestart(metas, loadAll([parsePluginSpec(`${w2},dir=/e`)])), `${w2},dir=/e:/old/b.js`);
    });
  });
});
