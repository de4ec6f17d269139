// `portcullis audit verify|export`: check the hash chain of the audit log; write it out as JSON
// lines for a SIEM.
import { CommandFailed, type CommandGroup, type CommandSpec, UsageError } from '../command.ts';

const verify: CommandSpec = {
  name: 'audit verify',
  summary: 'Recompute the hash chain of the audit log; report the first broken link (exit 1).',
  usage: '[--json]',
  details: [
    "A changed row breaks its own hash; a deleted row breaks the next row's link to its predecessor.",
    'After retention (AUDIT_RETENTION_DAYS) deleted the oldest rows, the chain is checked from its anchor.',
  ],
  async run(_args, ctx, out) {
    const services = await ctx.services();
    const result = await services.audit.verify();
    if (!result.ok && result.brokenAt) {
      if (out.json) out.emit(result, []);
      throw new CommandFailed(
        `audit chain broken at row ${result.brokenAt.id}: ${result.brokenAt.reason} (${result.checked} rows verified before it)`,
      );
    }
    const from = result.anchor
      ? ` (from row ${result.anchor.firstRetainedId}: older rows were deleted by retention on ${result.anchor.prunedAt})`
      : '';
    out.emit(result, [`audit chain intact: ${result.checked} rows verified${from}`]);
  },
};

const exportEvents: CommandSpec = {
  name: 'audit export',
  summary: 'Write audit events as JSON lines (oldest first) for a SIEM.',
  usage: '[--since TIME] [--until TIME] [--type EVENT]',
  details: ['TIME is ISO 8601, e.g. 2026-11-01T00:00:00Z. Each line is one event, chain hashes included.'],
  options: {
    since: { type: 'string', help: 'TIME only events at or after this instant' },
    until: { type: 'string', help: 'TIME only events before this instant' },
    type: { type: 'string', help: 'EVENT only this event type, e.g. consent.revoked' },
  },
  async run(args, ctx) {
    const instant = (name: string) => {
      const text = args.string(name);
      if (text === undefined) return undefined;
      const parsed = new Date(text);
      if (Number.isNaN(parsed.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
        throw new UsageError(`--${name} must be an ISO 8601 time such as 2026-11-01T00:00:00Z, got "${text}"`);
      }
      return parsed;
    };
    const since = instant('since');
    const until = instant('until');
    const type = args.string('type');
    const services = await ctx.services();
    let afterId: number | undefined;
    for (;;) {
      const rows = await services.audit.query({ since, until, type, afterId, limit: 1000 });
      if (!rows.length) break;
      process.stdout.write(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
      afterId = rows.at(-1)?.id;
    }
  },
};

export const audit: CommandGroup = {
  name: 'audit',
  summary: 'Verify and export the tamper-evident audit log',
  commands: [verify, exportEvents],
};
