// A request path as the routers read it, for everything that decides by path before (or beside)
// them: the rate-limit family, the error format, the admin gate. Deciding on the raw path let
// `/Token` or `/account/login/` reach the real handler while counted as something else.
//
// Both routers match case-insensitively and accept one trailing slash: @koa/router through
// path-to-regexp 8 (`sensitive: false`, `trailing: true`: the `i` flag and `(?:\/$)?`), and
// oidc-provider's own router (lib/helpers/router.js: `fold` upper-cases both sides, then `match`
// retries once without a trailing "/"). Neither decodes percent-escapes nor merges "//" before
// matching (Koa's `ctx.path` is the raw path), and their case folding never maps a non-ASCII
// character onto an ASCII one (`fold`, and a RegExp `i` flag without `u`), so folding the ASCII
// letters is exact. Every trailing slash goes, not only the one the routers forgive: a path with
// two is a 404 anyway, and counting it in a stricter family costs only its sender.

/** The canonical form of `path`: ASCII letters in lower case, no trailing slash ("/" stays "/"). */
export function routePath(path: string): string {
  const folded = path.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  const trimmed = folded.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** Whether canonical `path` is `prefix` itself or below it (`/admin`, `/admin/clients`, not `/administrator`). */
export const isUnder = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);
