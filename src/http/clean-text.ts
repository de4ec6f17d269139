// Text Portcullis stores and shows must be Unicode text: no NUL (PostgreSQL refuses it in text
// and jsonb, and it would travel on into redirects), no lone UTF-16 surrogate (a JSON escape such
// as "\ud800" parses to one; jsonb refuses it, a page could not show it) and no U+FFFD (what a
// lenient decoder leaves of invalid UTF-8: stored, it would be echoed mangled). Inputs with any
// of them are refused at the door, in the endpoint's own error format.

/** True when `text` is well-formed Unicode without NUL or U+FFFD. */
export const isCleanText = (text: string): boolean => text.isWellFormed() && !text.includes('\0') && !text.includes('\uFFFD');

/** True when any string in a parsed JSON value (a key or a value, at any depth) is not clean text. */
export function hasUncleanText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (!isCleanText(current)) return true;
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current as Record<string, unknown>)) {
        if (!isCleanText(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}
