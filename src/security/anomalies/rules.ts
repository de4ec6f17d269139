// The anomaly rules: what each watches, its threshold over its sliding window, whether it may
// block the address (only when ANOMALY_BLOCK_MINUTES > 0), and why the numbers are what they are.
// ANOMALY_THRESHOLDS adjusts them: `rule=threshold[/seconds]`, comma-separated.

export const RULE_NAMES = [
  'login_failures_ip',
  'login_failures_global',
  'credential_stuffing',
  'token_velocity',
  'refresh_reuse',
] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export interface Rule {
  threshold: number;
  windowSeconds: number;
  /** Firing blocks the offending address (when automatic blocking is on). */
  blocksIp: boolean;
  why: string;
}

/** token_velocity fires when a client's minute is this many times its norm (and above the threshold). */
export const VELOCITY_FACTOR = 10;
/** ...and only once the norm has this many minutes behind it; before that, the threshold alone. */
export const VELOCITY_WARMUP_MINUTES = 30;

export const RULES: Record<RuleName, Rule> = {
  login_failures_ip: {
    threshold: 20,
    windowSeconds: 300,
    blocksIp: true,
    why: 'a customer is locked out after 5 consecutive failures (PSD2 RTS Art. 4(3)(b)); 20 failures from one address in 5 minutes is four lockouts worth: guessing, not mistyping.',
  },
  login_failures_global: {
    threshold: 200,
    windowSeconds: 300,
    blocksIp: false,
    why: 'a distributed attack stays under every per-address threshold and shows only in the total; set it to about 10x the normal failure rate of the bank (alert only: there is no one address to block).',
  },
  credential_stuffing: {
    threshold: 10,
    windowSeconds: 600,
    blocksIp: true,
    why: 'a household shares a few sign-ins; 10 different usernames tried from one address in 10 minutes is a list being replayed. Carrier-grade NAT can put many customers behind one address, which is why blocking is opt-in.',
  },
  token_velocity: {
    threshold: 600,
    windowSeconds: 60,
    blocksIp: false,
    why: `a client's token requests in one minute above ${VELOCITY_FACTOR}x its own hourly norm (and above 600, so small clients do not alarm on a burst of 20): a stolen key or a runaway job. Alert only: blocking a TPP's address is an operator's call.`,
  },
  refresh_reuse: {
    threshold: 1,
    windowSeconds: 0,
    blocksIp: false,
    why: 'a refresh token used again after its retry window means two parties hold it (theft, or a broken client): every one is reported. oidc-provider has already revoked the grant.',
  },
};

const ENTRY = /^([a-z_]+)=(\d{1,7})(?:\/(\d{1,7}))?$/;
const entries = (text: string) => text.split(/[,\s]+/).filter(Boolean);

/** What is wrong with an ANOMALY_THRESHOLDS value (empty when nothing): for the config schema. */
export function thresholdProblems(text: string): string[] {
  return entries(text).flatMap((e) => {
    const m = ENTRY.exec(e);
    if (!m) return [`"${e}" is not rule=threshold[/seconds]`];
    if (!RULE_NAMES.includes(m[1] as RuleName)) return [`"${m[1]}" is not a rule (${RULE_NAMES.join(', ')})`];
    if (Number(m[2]) < 1) return [`"${e}": the threshold must be at least 1`];
    return [];
  });
}

export function effectiveRules(text: string): Record<RuleName, Rule> {
  const rules = Object.fromEntries(RULE_NAMES.map((name) => [name, { ...RULES[name] }])) as Record<RuleName, Rule>;
  for (const e of entries(text)) {
    const m = ENTRY.exec(e);
    if (!m || !RULE_NAMES.includes(m[1] as RuleName)) throw new Error(`ANOMALY_THRESHOLDS: bad entry "${e}"`);
    const rule = rules[m[1] as RuleName];
    rule.threshold = Number(m[2]);
    if (m[3] !== undefined) rule.windowSeconds = Number(m[3]);
  }
  return rules;
}
