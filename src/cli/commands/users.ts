// `portcullis users create`: a bank customer (PSU) with an argon2id password hash.
// `portcullis users unlock`: lifts a lockout after failed sign-in attempts (PSD2 RTS Art. 4(3)(b)).
// `portcullis users release-hold`: lets factors enrolled after a recovery sign-in count for SCA now.
import { userCreateInput } from '../../admin/schemas.ts';
import { parseInput } from '../../admin/validation.ts';
import { CommandFailed, type CommandGroup, type CommandSpec, UsageError } from '../command.ts';
import { readPassword } from '../input.ts';
import { operatorActor } from '../operator.ts';
import { isUniqueViolation } from './errors.ts';

const MIN_PASSWORD = 8;

const create: CommandSpec = {
  name: 'users create',
  summary: 'Create a bank customer. The password is read from stdin (first line), or prompted for without echo.',
  usage: '--username USERNAME [--json]',
  details: [
    `Passwords need at least ${MIN_PASSWORD} characters. Prints the new user id on the last line.`,
    'Example: printf \'%s\\n\' "$PASSWORD" | portcullis users create --username alice',
  ],
  options: { username: { type: 'string', help: 'USERNAME login name (compared case-insensitively)' } },
  async run(args, ctx, out) {
    const username = args.required('username');
    const password = await readPassword();
    if (password.length === 0) throw new UsageError('no password given on stdin');
    if (password.length < MIN_PASSWORD) throw new UsageError(`the password needs at least ${MIN_PASSWORD} characters`);
    // The admin API's schema, so both paths accept the same users.
    const input = parseInput(userCreateInput, { username, password }, 'generic');
    const services = await ctx.services();
    try {
      const user = await services.customers.create(input.username, input.password);
      out.emit(user, [`Created user "${user.username}".`, user.id]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandFailed(`the username "${input.username}" is taken`);
      throw err;
    }
  },
};

const unlock: CommandSpec = {
  name: 'users unlock',
  summary: 'Lift the block of a customer locked out after failed sign-in attempts.',
  usage: '--username USERNAME [--json]',
  details: [
    'Resets the failed-attempt count and the escalation, ends a temporary block, and reactivates a',
    'customer locked until an operator unlocks it (a disabled customer stays disabled).',
    'Example: portcullis users unlock --username alice',
  ],
  options: { username: { type: 'string', help: 'USERNAME login name (compared case-insensitively)' } },
  async run(args, ctx, out) {
    const username = args.required('username');
    const services = await ctx.services();
    const customer = await services.customers.findByUsername(username);
    if (!customer || !(await services.authentication.lockout.unlock(customer.id))) {
      throw new CommandFailed(`there is no user "${username}"`);
    }
    await services.audit.record({
      type: 'customer.unlocked',
      outcome: 'success',
      actor: operatorActor(),
      customerId: customer.id,
      details: { channel: 'cli' },
    });
    const unlocked = (await services.customers.findById(customer.id)) ?? customer;
    out.emit(unlocked, [`Unlocked user "${unlocked.username}" (status: ${unlocked.status}).`]);
  },
};

const releaseHold: CommandSpec = {
  name: 'users release-hold',
  summary: 'End the hold on second factors a customer enrolled after a recovery sign-in.',
  usage: '--username USERNAME [--json]',
  details: [
    'A factor set up after signing in with a recovery code confirms payments and TPP access only',
    'RECOVERY_FACTOR_HOLD_HOURS later. Release it early only after verifying the customer by other means.',
    'Example: portcullis users release-hold --username alice',
  ],
  options: { username: { type: 'string', help: 'USERNAME login name (compared case-insensitively)' } },
  async run(args, ctx, out) {
    const username = args.required('username');
    const services = await ctx.services();
    const customer = await services.customers.findByUsername(username);
    if (!customer) throw new CommandFailed(`there is no user "${username}"`);
    const released = await services.authentication.factors.releaseHolds(customer.id);
    await services.audit.record({
      type: 'customer.factor_hold_released',
      outcome: 'success',
      actor: operatorActor(),
      customerId: customer.id,
      details: { channel: 'cli', factors_released: released },
    });
    out.emit({ id: customer.id, username: customer.username, factors_released: released }, [
      released.length === 0
        ? `User "${customer.username}" has no held factor.`
        : `Released the hold on ${released.length} factor(s) of user "${customer.username}": they count for SCA now.`,
    ]);
  },
};

export const users: CommandGroup = {
  name: 'users',
  summary: 'Create bank customers, lift lockouts and factor holds',
  commands: [create, unlock, releaseHold],
};
