const UNITS: Record<string, number> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
const ORDER = 'wdhms';
const ACCEPTED = '0, or whole numbers with units from largest to smallest, each unit once: w (weeks), d (days), h (hours), m (minutes), s (seconds) — e.g. 45s, 90m, 24h, 7d, 1w, 1d12h, 2h30m';

/** `0`, or a compound duration such as `90m`, `1d12h`, `2h30m`, `1w`; in milliseconds. */
export function parseDuration(text: string): number {
  const compact = text.replace(/\s+/g, '').toLowerCase();
  if (/^0+$/.test(compact)) return 0;
  const parts = [...compact.matchAll(/(\d+)([wdhms])/g)];
  const refuse = (why: string): never => {
    throw new Error(`'${text}' is not a duration${why}: write ${ACCEPTED}`);
  };
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== compact) {
    return refuse(/^\d+(\.\d+)?$/.test(compact) ? ' (a number needs a unit)' : '');
  }
  let previous = -1;
  let total = 0;
  for (const [, amount, unit] of parts) {
    const rank = ORDER.indexOf(unit!);
    if (rank <= previous) refuse(` (unit '${unit}' ${rank === previous ? 'repeated' : 'out of order'})`);
    previous = rank;
    total += Number(amount) * UNITS[unit!]!;
  }
  if (!Number.isSafeInteger(total)) refuse(' (too long)');
  return total;
}
