const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `0`, `90s`, `30m`, `24h`, `7d`, or a bare number of hours. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(text);
  if (!match) {
    throw new Error(`'${text}' is not a duration: write a number with a unit, e.g. 0, 90m, 24h or 7d`);
  }
  const unit = (match[2] || 'h').toLowerCase();
  return Math.round(Number(match[1]) * UNITS[unit]!);
}
