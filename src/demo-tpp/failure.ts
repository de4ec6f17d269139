// A failed step of the demo, explained on a page: which step, and what the other side said.
// OAuth error codes and openid-client's check messages are safe and useful to show; anything
// else (a crash, a network stack) is logged and replaced by a plain sentence.
import * as client from 'openid-client';
import { HttpError } from '../http/errors.ts';
import { DemoStepError } from './tpp.ts';

export interface Failure {
  status: number;
  title: string;
  message: string;
  error?: string;
  description?: string;
  /** Whether the server log has more than the page (an unexpected error). */
  logged: boolean;
}

export function describeFailure(err: unknown, issuer: string): Failure {
  if (err instanceof HttpError) {
    return { status: err.status, title: 'The demo could not do that', message: err.description, error: err.error, logged: false };
  }
  if (!(err instanceof DemoStepError)) {
    return {
      status: 500,
      title: 'The demo failed',
      message: 'Something unexpected went wrong in the demo third party.',
      logged: true,
    };
  }
  const cause = err.cause;
  const title = `The demo failed while ${err.step}`;
  if (cause instanceof client.ResponseBodyError) {
    return {
      status: 502,
      title,
      message: 'The authorization server refused the request.',
      error: cause.error,
      ...(cause.error_description ? { description: cause.error_description } : {}),
      logged: false,
    };
  }
  if (cause instanceof client.ClientError) {
    const detail = cause.cause instanceof Error ? cause.cause.message : undefined;
    return {
      status: 502,
      title,
      message: "The authorization server's answer did not pass the demo's checks.",
      ...(cause.code ? { error: cause.code } : {}),
      description: detail ? `${cause.message}: ${detail}` : cause.message,
      logged: false,
    };
  }
  // undici's TypeError('fetch failed'): the server itself is unreachable at ISSUER.
  if (cause instanceof TypeError && cause.message === 'fetch failed') {
    return { status: 502, title, message: `The demo could not reach the authorization server at ${issuer}.`, logged: true };
  }
  return { status: 500, title, message: 'Something unexpected went wrong in the demo third party.', logged: true };
}
