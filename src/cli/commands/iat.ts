// `portcullis iat create`: an initial access token for RFC 7591 dynamic client registration
// (RFC 7591 section 3: the registration endpoint accepts it as a Bearer token).
import { initialAccessTokenInput } from '../../admin/schemas.ts';
import { parseInput } from '../../admin/validation.ts';
import type { CommandGroup, CommandSpec } from '../command.ts';

const create: CommandSpec = {
  name: 'iat create',
  summary: 'Mint an initial access token for dynamic client registration; the token is alone on the last line.',
  usage: '[--ttl SECONDS] [--json]',
  details: ['Give it to one TPP, which sends it as a Bearer token to the registration_endpoint named in discovery.'],
  options: { ttl: { type: 'string', help: 'SECONDS lifetime of the token (60-2592000; default 86400)' } },
  async run(args, ctx, out) {
    const ttl = args.integer('ttl', { min: 0, max: Number.MAX_SAFE_INTEGER }, undefined);
    // The admin API's schema holds the bounds and the default, so both paths agree.
    const input = parseInput(initialAccessTokenInput, ttl === undefined ? {} : { ttl }, 'generic');
    const holder = await ctx.provider();
    const token = await new holder.current.InitialAccessToken({ expiresIn: input.ttl }).save();
    const expiresAt = new Date(Date.now() + input.ttl * 1000).toISOString();
    out.emit({ initial_access_token: token, expires_in: input.ttl, expires_at: expiresAt }, [
      `Initial access token for dynamic client registration at ${holder.current.issuer}, valid until ${expiresAt}:`,
      token,
    ]);
  },
};

export const iat: CommandGroup = {
  name: 'iat',
  summary: 'Mint initial access tokens for RFC 7591 dynamic client registration',
  commands: [create],
};
