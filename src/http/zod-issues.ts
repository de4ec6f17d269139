// zod issues as one readable line, each issue named by its field.
import type { z } from 'zod';

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown or forbidden field(s): ${issue.keys.join(', ')}`;
  const field = issue.path.length ? issue.path.join('.') : 'body';
  return `${field}: ${issue.message}`;
}

export const describeIssues = (issues: z.core.$ZodIssue[]) => issues.map(describe).join('; ');

/** True when every issue concerns a redirect URI list (RFC 7591 invalid_redirect_uri). */
export const onlyRedirectUriIssues = (issues: z.core.$ZodIssue[]) =>
  issues.every((i) => i.path[0] === 'redirect_uris' || i.path[0] === 'post_logout_redirect_uris');
