// How deeply a parsed JSON value nests. No input Portcullis accepts nests deeper than a handful of
// levels (client metadata with a JWKS: 4); a deep document only costs stack in whatever walks
// it later (validation, canonical JSON, JSON.stringify), so it is refused at the door.

/** OWASP API4: the deepest nesting accepted in a JSON body. */
export const MAX_JSON_DEPTH = 20;

/** True when `value` nests objects/arrays deeper than `max` levels (checked without recursion). */
export function jsonTooDeep(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(current as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}
