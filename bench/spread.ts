/** A figure over the rounds: the median decides, min–max shows how far one round can be off. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v[v.length - 1], n: v.length };
}

export const fmtSpread = (s: Spread | undefined, d = 0, suffix = '') =>
  s === undefined ? '–' : s.n === 1 || s.min === s.max ? `${s.median.toFixed(d)}${suffix}` : `${s.median.toFixed(d)}${suffix} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
