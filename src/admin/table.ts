/** Aligned plain-text tables for the CLI: header row, columns padded, two spaces apart. */
export function formatTable(headers: string[], rows: Array<Array<string | number | boolean | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((v) => (v === undefined || v === '' ? '-' : String(v))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Epoch ms as an ISO time without milliseconds. */
export function when(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
