// Draws a readimage map layout as a self-contained SVG (no scripts, no fonts to fetch; hover text is SVG <title>)
// or as an HTML page that carries the same SVG and a table of the areas.
import { PAGE_SIZE } from '../../src/protocol/constants';
import { CATEGORIES, hexAddr, type Category } from './areas';
import { GEOMETRY, type AreaBox, type Layout, type MapInput, type PageState } from './map-layout';
import { spanBytes as bytes } from './text';

export const CATEGORY_COLORS: Record<Category, string> = {
  code: '#d9534f',
  data: '#f0ad4e',
  heap: '#5cb85c',
  stack: '#9b59b6',
  anonymous: '#5bc0de',
  file: '#337ab7',
  kernel: '#9e9e9e',
};

const STATE_FILLS: Record<PageState, string> = {
  stored: '#222222',
  file: 'url(#file-pages)',
  zero: '#ffffff',
  none: '#e0e0e0',
};

const STATE_NAMES: Record<PageState, string> = {
  stored: 'stored in the image',
  file: 'left to the mapped file',
  zero: 'zero',
  none: 'not in any image (kernel)',
};

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function hoverText(b: AreaBox): string {
  const a = b.area;
  const pages = Number((a.end - a.start) / BigInt(PAGE_SIZE));
  const c = b.counts;
  const parts = [`${hexAddr(a.start)}-${hexAddr(a.end)} ${a.perms} ${a.kind} (${a.category})`, a.label, `${pages} pages (${bytes(Number(a.end - a.start))})`];
  if (a.category === 'kernel') parts.push('contents not in the image');
  else parts.push(`${c.stored} stored, ${c.file} left to the file, ${c.zero} zero`);
  return parts.join('\n');
}

function areaSvg(b: AreaBox): string {
  const g = GEOMETRY;
  const a = b.area;
  const y = b.y;
  const pages = Number((a.end - a.start) / BigInt(PAGE_SIZE));
  const lines = [
    `<g class="area" data-start="${hexAddr(a.start)}" data-end="${hexAddr(a.end)}" data-category="${a.category}">`,
    `<title>${escapeXml(hoverText(b))}</title>`,
    `<rect class="block" x="${g.blockX}" y="${y}" width="${g.blockWidth}" height="${b.height}" fill="${CATEGORY_COLORS[a.category]}" stroke="#333" stroke-width="0.5"/>`,
    `<rect class="pages" x="${g.stripX}" y="${y}" width="${g.stripWidth}" height="${b.height}" fill="${STATE_FILLS[a.rest]}" stroke="#333" stroke-width="0.5"/>`,
    ...b.marks.map((m) => `<rect class="pages-${m.state}" x="${g.stripX}" y="${m.y}" width="${g.stripWidth}" height="${m.height}" fill="${STATE_FILLS[m.state]}"/>`),
    `<text x="${g.addressX}" y="${round2(y + 11)}" fill="#555">${hexAddr(a.start)}</text>`,
    `<text x="${g.labelX}" y="${round2(y + 11)}">${escapeXml(`${a.label}  ${a.perms}  ${bytes(Number(a.end - a.start))}`)}</text>`,
  ];
  if (b.height >= 26 && a.category !== 'kernel') {
    const c = b.counts;
    lines.push(`<text x="${g.labelX}" y="${round2(y + 23)}" fill="#666" font-size="10">${pages} pages: ${c.stored} stored, ${c.file} file, ${c.zero} zero</text>`);
  }
  lines.push('</g>');
  return lines.join('\n');
}

function legendSvg(): string {
  const out = ['<g class="legend">'];
  CATEGORIES.forEach((c, i) => {
    const x = 10 + i * 118;
    out.push(`<rect x="${x}" y="36" width="12" height="12" fill="${CATEGORY_COLORS[c]}" stroke="#333" stroke-width="0.5"/>`, `<text x="${x + 17}" y="46">${c}</text>`);
  });
  (['stored', 'file', 'zero', 'none'] as PageState[]).forEach((s, i) => {
    const x = 10 + i * 236;
    out.push(`<rect x="${x}" y="56" width="12" height="12" fill="${STATE_FILLS[s]}" stroke="#333" stroke-width="0.5"/>`, `<text x="${x + 17}" y="66">page ${escapeXml(STATE_NAMES[s])}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function renderSvg(input: MapInput, l: Layout): string {
  const g = GEOMETRY;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${l.height}" viewBox="0 0 ${l.width} ${l.height}" font-family="monospace" font-size="11">`,
    `<title>${escapeXml(input.title)}</title>`,
    '<defs><pattern id="file-pages" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#dce9f6"/><rect width="2.5" height="6" fill="#337ab7"/></pattern></defs>',
    `<rect width="${l.width}" height="${l.height}" fill="#fafafa"/>`,
    `<text x="10" y="20" font-size="13" font-weight="bold">${escapeXml(input.title)}</text>`,
    legendSvg(),
    ...l.gaps.map((gap) => [
      '<g class="gap">',
      `<title>${escapeXml(`unmapped ${hexAddr(gap.start)}-${hexAddr(gap.end)} (${bytes(Number(gap.end - gap.start))})`)}</title>`,
      `<line x1="${g.blockX}" y1="${round2(gap.y + gap.height / 2)}" x2="${g.stripX + g.stripWidth}" y2="${round2(gap.y + gap.height / 2)}" stroke="#aaa" stroke-dasharray="4 3"/>`,
      `<text x="${g.labelX}" y="${round2(gap.y + gap.height / 2 + 4)}" fill="#999" font-size="10">${escapeXml(`${bytes(Number(gap.end - gap.start))} unmapped`)}</text>`,
      '</g>',
    ].join('\n')),
    ...l.areas.map(areaSvg),
    '</svg>',
  ];
  return parts.join('\n') + '\n';
}

export function renderHtml(input: MapInput, l: Layout): string {
  const rows = l.areas.map((b) => {
    const a = b.area;
    const c = b.counts;
    const cells = [`${hexAddr(a.start)}-${hexAddr(a.end)}`, a.perms, a.kind, a.category, bytes(Number(a.end - a.start)), String(c.stored), String(c.file), String(c.zero), a.label];
    return `<tr>${cells.map((x) => `<td>${escapeXml(x)}</td>`).join('')}</tr>`;
  });
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeXml(input.title)}</title>`,
    '<style>body{font-family:monospace;margin:16px;background:#fafafa}table{border-collapse:collapse;margin-top:16px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}</style>',
    '</head>',
    '<body>',
    renderSvg(input, l).trimEnd(),
    '<table>',
    '<tr><th>range</th><th>perms</th><th>kind</th><th>category</th><th>size</th><th>stored</th><th>file</th><th>zero</th><th>path</th></tr>',
    ...rows,
    '</table>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
