// Security headers on every response (FAPI 2.0 SP 5.3.2.2 / OWASP API8). HTML pages get a strict
// CSP with no inline script and `frame-ancestors 'none'`.
import type { Middleware } from 'koa';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(options: { hsts: boolean }): Middleware {
  return async (ctx, next) => {
    // Set before the handler runs. oidc-provider's self-submitting pages would add the SHA-256 of
    // their one script to it; they are replaced by script-free pages (oidc/logout.ts).
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    try {
      await next();
    } finally {
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('X-Frame-Options', 'DENY');
      ctx.set('Referrer-Policy', 'no-referrer');
      if (!ctx.response.get('Content-Security-Policy')) ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
      ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
      if (options.hsts && ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
      if (!ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
      ctx.remove('X-Powered-By');
    }
  };
}
