// Building patterns around text the test does not control (paths, file names).

/** `text` escaped for use inside a RegExp source, matching itself literally. */
export function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
