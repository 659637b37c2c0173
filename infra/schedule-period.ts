/**
 * How often a schedule expression starts a run, for the missed-run alarm. A rate
 * says it exactly; a cron expression is taken to be daily (the usual nightly run:
 * set `alarms.missedRunHours` for other cron schedules); a one-time `at(…)` has no period.
 */

const MINUTES_PER_UNIT: Record<string, number> = { minute: 1, hour: 60, day: 1440 };
const RATE = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/;

export type SchedulePeriod = { readonly minutes: number } | { readonly minutes: undefined; readonly why: string };

export class ScheduleExpressionError extends Error {
  override readonly name = 'ScheduleExpressionError';
}

export function schedulePeriod(expression: string): SchedulePeriod {
  const text = expression.trim();
  if (text.startsWith('rate(')) {
    const match = RATE.exec(text);
    const value = match ? Number(match[1]) : 0;
    if (!match || value < 1) {
      throw new ScheduleExpressionError(
        `schedule ${JSON.stringify(expression)} is not a rate EventBridge Scheduler accepts: write rate(<positive whole number> minutes|hours|days), e.g. "rate(12 hours)".`,
      );
    }
    return { minutes: value * MINUTES_PER_UNIT[match[2]!]! };
  }
  if (text.startsWith('cron(')) return { minutes: 24 * 60 };
  return { minutes: undefined, why: 'a one-time at(…) schedule starts no further runs' };
}
