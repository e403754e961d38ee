// The TypeScript mirror of native/include/*.h must agree with the C headers: every enum value and #define, and the
// byte layout of every record as the C compiler lays it out.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as C from '../../src/protocol/constants';
import * as Plan from '../../src/pipeline/restart-plan';
import { packageRoot } from '../../src/paths';

const include = path.join(packageRoot, 'native', 'include');

/** Every `NAME = value` inside enums and every `#define NAME number` of a header. */
function headerNumbers(file: string): Map<string, number> {
  const text = fs.readFileSync(path.join(include, file), 'utf8');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^\s*(DMTCP_[A-Z0-9_]+)\s*=\s*([0-9]+|0x[0-9a-fA-F]+)\s*,/gm)) out.set(m[1], Number(m[2]));
  for (const m of text.matchAll(/^#define\s+(DMTCP_[A-Z0-9_]+)\s+\(?(0x[0-9a-fA-F]+u?|[0-9]+u?|'.')(?:\s*<<\s*(\d+))?\)?/gm)) {
    const raw = m[2].replace(/u$/, '');
    const v = raw.startsWith("'") ? raw.charCodeAt(1) : Number(raw);
    out.set(m[1], m[3] ? v * 2 ** Number(m[3]) : v);
  }
  return out;
}

function prefixed(map: Map<string, number>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of map) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

describe('native constants mirror', () => {
  const proto = headerNumbers('dmtcp_protocol.h');
  const stream = headerNumbers('dmtcp_stream.h');
  const plan = headerNumbers('dmtcp_plan.h');

  const tables: [string, Record<string, number>, Record<string, number>][] = [
    ['message types', prefixed(proto, 'DMTCP_MSG_'), C.Msg],
    ['protocol tags', prefixed(proto, 'DMTCP_TAG_'), C.Tag],
    ['stream record types', prefixed(stream, 'DMTCP_REC_'), Object.fromEntries(Object.entries(C.Rec).filter(([k]) => k !== 'ALIGN'))],
    ['stream TLV tags', prefixed(stream, 'DMTCP_TLV_'), C.StreamTlv],
    ['area kinds', prefixed(stream, 'DMTCP_AREA_'), { ...C.AreaKind, F_SHARED: C.AreaFlag.SHARED, F_GROWSDOWN: C.AreaFlag.GROWSDOWN, F_SHARED_COPY: C.AreaFlag.SHARED_COPY }],
    ['backings', prefixed(stream, 'DMTCP_BACK_'), C.Backing],
    ['thread flags', prefixed(stream, 'DMTCP_THREAD_F_'), C.ThreadFlag],
    ['descriptor kinds', prefixed(stream, 'DMTCP_FD_'), { ...C.FdKind, F_CLOEXEC: C.FdFlag.CLOEXEC, F_OUTSIDE: C.FdFlag.OUTSIDE, F_DRAINED: C.FdFlag.DRAINED, F_CONTENTS: C.FdFlag.CONTENTS, F_CTTY: C.FdFlag.CTTY }],
    ['restart plan descriptions', prefixed(plan, 'DMTCP_DESC_'), Plan.DescKind],
    ['restart plan process flags', Object.fromEntries(Object.entries(prefixed(plan, 'DMTCP_PLAN_')).filter(([k]) => /LEADER|FOREGROUND|ZOMBIE/.test(k))), Plan.ProcFlag],
    ['restart plan hold flags', prefixed(plan, 'DMTCP_HOLD_'), Plan.HoldFlag],
  ];
  for (const [name, fromC, fromTs] of tables) {
    it(`${name} match`, () => {
      const c = Object.fromEntries(Object.entries(fromC).filter(([k]) => k !== 'ALIGN'));
      assert.deepEqual(c, { ...fromTs });
    });
  }

  it('protocol scalars match', () => {
    assert.equal(proto.get('DMTCP_PROTO_MAGIC'), C.PROTO_MAGIC);
    assert.equal(proto.get('DMTCP_PROTO_VERSION'), C.PROTO_VERSION);
    assert.equal(proto.get('DMTCP_PROTO_MAX_PAYLOAD'), C.PROTO_MAX_PAYLOAD);
  });

  it('restart plan scalars match', () => {
    assert.equal(plan.get('DMTCP_PLAN_VERSION'), Plan.PLAN_VERSION);
    assert.equal(plan.get('DMTCP_PLAN_NO_DESC'), Plan.NO_DESC);
    assert.equal(plan.get('DMTCP_PLAN_NO_FD'), Plan.NO_FD);
    assert.match(fs.readFileSync(path.join(include, 'dmtcp_plan.h'), 'utf8'), new RegExp(`DMTCP_PLAN_MAGIC "${Plan.PLAN_MAGIC}"`));
    assert.equal(stream.get('DMTCP_FD_PTY_MASTER'), C.FdKind.PTY_MASTER);
  });

  it('stream scalars match', () => {
    assert.equal(stream.get('DMTCP_STREAM_VERSION'), C.STREAM_VERSION);
    assert.equal(stream.get('DMTCP_STREAM_F_PUSH'), C.STREAM_F_PUSH);
    assert.equal(stream.get('DMTCP_STREAM_F_NEGOTIATE'), C.STREAM_F_NEGOTIATE);
    assert.equal(stream.get('DMTCP_MODE_PULL'), C.MODE_PULL);
    assert.equal(stream.get('DMTCP_MODE_PUSH'), C.MODE_PUSH);
    assert.equal(stream.get('DMTCP_ACK_READY'), C.ACK_READY);
    assert.equal(stream.get('DMTCP_ACK_LAZY'), C.ACK_LAZY);
    assert.equal(stream.get('DMTCP_PAGE_SIZE'), C.PAGE_SIZE);
    assert.equal(stream.get('DMTCP_MAX_AREAS'), C.MAX_AREAS);
    assert.equal(stream.get('DMTCP_AUXV_WORDS'), C.AUXV_WORDS);
    assert.match(fs.readFileSync(path.join(include, 'dmtcp_stream.h'), 'utf8'), new RegExp(`DMTCP_STREAM_MAGIC "${C.STREAM_MAGIC}"`));
  });

  it('record layouts match what the C compiler produces', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-layout-'));
    try {
      const src = path.join(dir, 'layout.c');
      fs.writeFileSync(src, `#include <stdio.h>
#include <stddef.h>
#include "dmtcp_stream.h"
#include "dmtcp_protocol.h"
#include "dmtcp_plan.h"
#define S(t) printf("\\"%s\\": %zu,", #t, sizeof(struct t))
#define O(t, f) printf("\\"%s.%s\\": %zu,", #t, #f, offsetof(struct t, f))
int main(void) {
  printf("{");
  S(dmtcp_stream_header); S(dmtcp_rec); S(dmtcp_rec_process); S(dmtcp_rec_thread); S(dmtcp_rec_area);
  S(dmtcp_rec_pages); S(dmtcp_rec_end); S(dmtcp_frame); S(dmtcp_rec_fd); S(dmtcp_tty_state);
  S(dmtcp_plan_header); S(dmtcp_plan_proc); S(dmtcp_plan_desc); S(dmtcp_plan_hold); S(dmtcp_plan_share);
  O(dmtcp_tty_state, fg_vpgid); O(dmtcp_plan_proc, ptracer); O(dmtcp_plan_desc, mode); O(dmtcp_plan_header, n_shares);
  O(dmtcp_rec_process, ckpt_time_ns); O(dmtcp_rec_process, entry); O(dmtcp_rec_process, restorer_lo);
  O(dmtcp_rec_process, mm); O(dmtcp_rec_process, auxv); O(dmtcp_rec_process, auxv_words); O(dmtcp_rec_process, vdso_hash);
  O(dmtcp_rec_area, mtime_nsec); O(dmtcp_rec_area, prot); O(dmtcp_rec_area, flags); O(dmtcp_rec_area, kind);
  O(dmtcp_rec_area, backing); O(dmtcp_rec_area, path_len);
  printf("\\"end\\": 0}");
  return 0;
}
`);
      const exe = path.join(dir, 'layout');
      execFileSync('gcc', ['-I', include, '-o', exe, src]);
      const got = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Record<string, number>;
      assert.equal(got.dmtcp_stream_header, C.STREAM_HEADER_SIZE);
      assert.equal(got.dmtcp_rec, C.RecSize.header);
      assert.equal(got.dmtcp_rec_process, C.RecSize.process);
      assert.equal(got.dmtcp_rec_thread, C.RecSize.thread);
      assert.equal(got.dmtcp_rec_area, C.RecSize.area);
      assert.equal(got.dmtcp_rec_pages, C.RecSize.pages);
      assert.equal(got.dmtcp_rec_end, C.RecSize.end);
      assert.equal(got.dmtcp_frame, C.FRAME_HEADER_SIZE);
      assert.equal(got.dmtcp_rec_fd, C.RecSize.fd);
      assert.equal(got['dmtcp_tty_state.fg_vpgid'], 48, 'restart-plan.ts reads the foreground group there');
      assert.equal(got.dmtcp_plan_header, Plan.PLAN_HEADER_SIZE);
      assert.equal(got.dmtcp_plan_proc, Plan.PLAN_PROC_SIZE);
      assert.equal(got.dmtcp_plan_desc, Plan.PLAN_DESC_SIZE);
      assert.equal(got.dmtcp_plan_hold, Plan.PLAN_HOLD_SIZE);
      assert.equal(got.dmtcp_plan_share, Plan.PLAN_SHARE_SIZE);
      assert.equal(got['dmtcp_plan_proc.ptracer'], 28);
      assert.equal(got['dmtcp_plan_desc.mode'], 44);
      assert.equal(got['dmtcp_plan_header.n_shares'], 28);
      assert.equal(got['dmtcp_rec_process.ckpt_time_ns'], C.ProcessOffsets.ckptTimeNs);
      assert.equal(got['dmtcp_rec_process.entry'], C.ProcessOffsets.entry);
      assert.equal(got['dmtcp_rec_process.restorer_lo'], C.ProcessOffsets.restorerLo);
      assert.equal(got['dmtcp_rec_process.mm'], C.ProcessOffsets.mm);
      assert.equal(got['dmtcp_rec_process.auxv'], C.ProcessOffsets.auxv);
      assert.equal(got['dmtcp_rec_process.auxv_words'], C.ProcessOffsets.auxvWords);
      assert.equal(got['dmtcp_rec_process.vdso_hash'], C.ProcessOffsets.vdsoHash);
      assert.equal(got['dmtcp_rec_area.mtime_nsec'], C.AreaOffsets.mtimeNsec);
      assert.equal(got['dmtcp_rec_area.prot'], C.AreaOffsets.prot);
      assert.equal(got['dmtcp_rec_area.flags'], C.AreaOffsets.flags);
      assert.equal(got['dmtcp_rec_area.kind'], C.AreaOffsets.kind);
      assert.equal(got['dmtcp_rec_area.backing'], C.AreaOffsets.backing);
      assert.equal(got['dmtcp_rec_area.path_len'], C.AreaOffsets.pathLen);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
