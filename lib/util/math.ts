/** Small numeric helpers that reproduce Python's semantics where ultralytics relies on them. */

/** Python 3 `round(x)` for a float: nearest integer, ties to even (never -0). */
export function pyRound(x: number): number {
  const f = Math.floor(x), d = x - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : (f % 2 === 0 ? f : f + 1);
  return r === 0 ? 0 : r;
}
