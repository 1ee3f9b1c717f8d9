/**
 * "Did you mean …?" for names a person typed: the closest of the known names, when it is
 * close enough to be the likely intent. Shared by the CLI (dataset names) and the template
 * parser (block and setting names).
 */

/** Edit distance where a swap of two neighbouring characters counts as one edit
 *  ("ouptuts" → "outputs"), the commonest typing slip after a missing letter. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known name `input` most likely meant, or undefined. Case is ignored ("mnist8K" →
 * "mnist8k"); otherwise one edit from 3 characters on and two from 6 on, so that a
 * different word ("train" vs "test", "z" vs "a") is not offered as a correction.
 */
export function closestName(input: string, known: readonly string[]): string | undefined {
  const typed = input.toLowerCase();
  if (typed.length > 64) return undefined; // not a typo of a short name; keeps the work bounded
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = editDistance(typed, name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  const allowed = typed.length >= 6 ? 2 : typed.length >= 3 ? 1 : 0;
  return best !== undefined && bestDistance <= allowed && best !== input ? best : undefined;
}
