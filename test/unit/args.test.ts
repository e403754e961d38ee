// The command-line parser: DMTCP-style options, and the exact messages for mistakes.
import * as assert from 'node:assert/strict';
import { parseArgs, parseIntStrict, UsageError, type OptionSpec } from '../../src/cli/args';

const SPECS: OptionSpec[] = [
  { name: 'coord-port', short: 'p', value: true, aliases: ['--port'], help: '' },
  { name: 'join-coordinator', short: 'j', help: '' },
  { name: 'bcheckpoint', short: 'bc', help: '' },
  { name: 'plugin', value: true, repeat: true, help: '' },
];

describe('command-line parsing', () => {
  const cases: [string, string[], Record<string, unknown>, string[], boolean?][] = [
    ['short with value', ['-p', '7779'], { 'coord-port': '7779' }, []],
    ['long with =', ['--coord-port=0'], { 'coord-port': '0' }, []],
    ['alias', ['--port', '1'], { 'coord-port': '1' }, []],
    ['two-letter short', ['-bc'], { bcheckpoint: true }, []],
    ['repeatable', ['--plugin', 'a', '--plugin=b'], { plugin: ['a', 'b'] }, []],
    ['stops at the program', ['-j', 'prog', '-p', '5'], { 'join-coordinator': true }, ['prog', '-p', '5'], true],
    ['-- ends options', ['--', '-j'], {}, ['-j']],
  ];
  for (const [name, argv, options, operands, stop] of cases) {
    it(name, () => {
      const p = parseArgs(argv, SPECS, { stopAtOperand: stop });
      assert.deepEqual(Object.fromEntries(p.options), options);
      assert.deepEqual(p.operands, operands);
    });
  }

  const errors: [string, string[], string][] = [
    ['unknown option', ['--frobnicate'], 'unknown option --frobnicate; see --help'],
    ['missing value', ['-p'], 'option -p needs a value (VALUE)'],
    ['value on a flag', ['--join-coordinator=yes'], 'option --join-coordinator takes no value'],
  ];
  for (const [name, argv, message] of errors) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseArgs(argv, SPECS), (e: unknown) => e instanceof UsageError && e.message === message);
    });
  }

  it('checks integers with exact messages', () => {
    assert.equal(parseIntStrict(' 42 ', 'x', 0, 100), 42);
    assert.throws(() => parseIntStrict('4x', '--interval', 0, 9), /^UsageError: --interval must be a whole number, got "4x"$/);
    assert.throws(() => parseIntStrict('70000', 'the port', 0, 65535), /^UsageError: the port must be between 0 and 65535, got 70000$/);
  });
});
