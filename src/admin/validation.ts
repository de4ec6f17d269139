// zod failures as errors in the protocol's own format: RFC 7591 codes for client metadata,
// invalid_request elsewhere. Every issue is named with its field.
import type { z } from 'zod';
import { HttpError, InvalidClientMetadata, InvalidRedirectUri, InvalidRequest } from '../http/errors.ts';
import { describeIssues, onlyRedirectUriIssues } from '../http/zod-issues.ts';

export function parseInput<S extends z.ZodType>(schema: S, input: unknown, flavour: 'client' | 'generic'): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const description = describeIssues(issues);
  if (flavour === 'generic') throw new InvalidRequest(description);
  if (onlyRedirectUriIssues(issues)) throw new InvalidRedirectUri(description);
  throw new InvalidClientMetadata(description);
}

/** oidc-provider's validation errors (InvalidClientMetadata, InvalidRedirectUri) as HttpErrors. */
export function fromProviderError(err: unknown): HttpError {
  const e = err as { error?: string; error_description?: string; status?: number };
  if (e?.error === 'invalid_redirect_uri') return new InvalidRedirectUri(e.error_description ?? 'invalid redirect_uri');
  if (e?.error === 'invalid_client_metadata') return new InvalidClientMetadata(e.error_description ?? 'invalid client metadata');
  if (e?.error && e.status && e.status < 500) return new HttpError(400, e.error, e.error_description ?? e.error);
  throw err;
}
