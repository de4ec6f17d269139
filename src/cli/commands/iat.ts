// `portcullis iat create`: an initial access token for RFC 7591 dynamic client registration
// (RFC 7591 section 3: the registration endpoint accepts it as a Bearer token). The operator names
// the authorization_details types the TPP may register (OWASP API5, PSD2 RTS Art. 34).
import { initialAccessTokenInput } from '../../admin/schemas.ts';
import { parseInput } from '../../admin/validation.ts';
import { mintInitialAccessToken } from '../../oidc/registration-bound.ts';
import { type CommandGroup, type CommandSpec, UsageError } from '../command.ts';

const create: CommandSpec = {
  name: 'iat create',
  summary: 'Mint an initial access token for dynamic client registration; the token is alone on the last line.',
  usage: '--type TYPE [--type TYPE] [--ttl SECONDS] [--json]',
  details: [
    'Give it to one TPP, which sends it as a Bearer token to the registration_endpoint named in discovery.',
    'The TPP can register (and later update to) only the --type values given: account_information,',
    'payment_initiation or both; a registration that names none gets exactly these.',
  ],
  options: {
    type: {
      type: 'string',
      multiple: true,
      help: 'TYPE an authorization_details type the TPP may register (repeatable, or comma-separated)',
    },
    ttl: { type: 'string', help: 'SECONDS lifetime of the token (60-2592000; default 86400)' },
  },
  async run(args, ctx, out) {
    const types = args
      .strings('type')
      .flatMap((t) => t.split(','))
      .filter(Boolean);
    if (types.length === 0) throw new UsageError('missing required option --type (account_information, payment_initiation)');
    const ttl = args.integer('ttl', { min: 0, max: Number.MAX_SAFE_INTEGER }, undefined);
    // The admin API's schema holds the bounds, the types and the default, so both paths agree.
    const input = parseInput(
      initialAccessTokenInput,
      { authorization_details_types: types, ...(ttl === undefined ? {} : { ttl }) },
      'generic',
    );
    const holder = await ctx.provider();
    const token = await mintInitialAccessToken(holder.current, input.ttl, input.authorization_details_types);
    const expiresAt = new Date(Date.now() + input.ttl * 1000).toISOString();
    out.emit(
      {
        initial_access_token: token,
        expires_in: input.ttl,
        expires_at: expiresAt,
        authorization_details_types: input.authorization_details_types,
      },
      [
        `Initial access token for dynamic client registration at ${holder.current.issuer}, valid until ${expiresAt},`,
        `for a TPP that may register ${input.authorization_details_types.join(' and ')}:`,
        token,
      ],
    );
  },
};

export const iat: CommandGroup = {
  name: 'iat',
  summary: 'Mint initial access tokens for RFC 7591 dynamic client registration',
  commands: [create],
};
