// Constant per-symbol tables for tokens and offset codes, filled once when the module starts.
import { MIN_MATCH, OFFSET_REPEATS, OFFSET_ALPHABET, lengthBase, lengthExtraBits } from './format';
import { TOKEN_INFO, OFFSET_INFO, TOKEN_AUX, OFFSET_AUX } from './layout';

/**
 * TOKEN_INFO (16 bytes per token): literal-length base, literal extra mask, match-length base
 * (MIN_MATCH included), match extra mask. TOKEN_AUX (u16): total extra bits | literal extra bits << 8.
 */
function initTokenTables(): void {
  for (let token: u32 = 0; token < 256; token++) {
    const litCode = token >> 4;
    const matchCode = token & 15;
    const litBits = lengthExtraBits(litCode);
    const matchBits = lengthExtraBits(matchCode);
    const info = TOKEN_INFO + (<usize>token << 4);
    store<u32>(info, lengthBase(litCode));
    store<u32>(info, ((<u32>1) << litBits) - 1, 4);
    store<u32>(info, lengthBase(matchCode) + MIN_MATCH, 8);
    store<u32>(info, ((<u32>1) << matchBits) - 1, 12);
    store<u16>(TOKEN_AUX + (<usize>token << 1), <u16>((litBits + matchBits) | (litBits << 8)));
  }
}

/**
 * OFFSET_INFO (16 bytes per code): base and extra mask of an explicit offset (zero for the repeat
 * codes and unused codes), then 8 unused bytes. OFFSET_AUX (u16): extra bits.
 */
function initOffsetTables(): void {
  for (let code: u32 = 0; code < 256; code++) {
    const explicit = code >= OFFSET_REPEATS && code < OFFSET_ALPHABET;
    const bits = explicit ? code - OFFSET_REPEATS : 0;
    const info = OFFSET_INFO + (<usize>code << 4);
    store<u32>(info, explicit ? (<u32>1) << bits : 0);
    store<u32>(info, explicit ? ((<u32>1) << bits) - 1 : 0, 4);
    store<u16>(OFFSET_AUX + (<usize>code << 1), <u16>bits);
  }
}

export function initSymbolTables(): void {
  initTokenTables();
  initOffsetTables();
}
