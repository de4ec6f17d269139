// `portcullis keys`: the signing keys and their rotation. A new key is published first and
// signs only after every instance has reloaded the key set (2 x KEY_REFRESH_SECONDS by default),
// so no relying party sees a token signed by a kid it has not fetched yet.

import type { SigningKeyInfo } from '../../oidc/keys.ts';
import { retireAfterSeconds } from '../../oidc/provider.ts';
import type { CommandGroup, CommandSpec } from '../command.ts';
import { table } from '../command.ts';

const keyTable = (keys: SigningKeyInfo[]) =>
  table(
    ['kid', 'alg', 'state', 'activates at', 'retires at'],
    keys.map((k) => [k.kid, k.alg, k.state, k.activates_at, k.retires_at]),
  );

const list: CommandSpec = {
  name: 'keys list',
  summary: 'List signing keys: kid, algorithm, state (next, active, retired, expired) and their times.',
  usage: '[--json]',
  details: ['Creates the first key of each configured algorithm when there is none yet, as the server does at start.'],
  async run(_args, ctx, out) {
    const services = await ctx.services();
    await services.keys.ensure(services.config.SIGNING_ALGS);
    const keys = await services.keys.list();
    out.emit(keys, keyTable(keys));
  },
};

const rotate: CommandSpec = {
  name: 'keys rotate',
  summary: 'Rotate the signing key of every configured algorithm.',
  usage: '[--publish-delay SECONDS] [--json]',
  details: [
    'The new keys are published at once and start signing after the publish delay; the old keys',
    'stay published until everything they signed has expired, then drop out of the JWKS.',
  ],
  options: {
    'publish-delay': {
      type: 'string',
      help: 'SECONDS how long new keys are only published before they sign (default 2 x KEY_REFRESH_SECONDS)',
    },
  },
  async run(args, ctx, out) {
    // The option is checked before the database is opened: a typo must not touch anything.
    const given = args.integer('publish-delay', { min: 0, max: 7 * 24 * 3600 }, -1);
    const services = await ctx.services();
    const { config } = services;
    const publishDelaySeconds = given >= 0 ? given : config.KEY_REFRESH_SECONDS * 2;
    // Without a key to succeed, the "new" key would be the only one and nothing would sign until it activates.
    await services.keys.ensure(config.SIGNING_ALGS);
    const keys = await services.keys.rotate(config.SIGNING_ALGS, {
      publishDelaySeconds,
      retireAfterSeconds: retireAfterSeconds(config),
    });
    out.emit(keys, [
      `Rotated ${config.SIGNING_ALGS.join(', ')}; new keys sign after ${publishDelaySeconds} s.`,
      ...keyTable(keys),
    ]);
  },
};

export const keys: CommandGroup = {
  name: 'keys',
  summary: 'List and rotate the signing keys',
  commands: [list, rotate],
};
