import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../functions/cli/duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['45s', 45 * S],
    ['90m', 90 * M],
    ['24h', 24 * H],
    ['7d', 7 * D],
    ['1w', 7 * D],
    ['1d12h', 36 * H],
    ['2h30m', 2 * H + 30 * M],
    ['1w2d3h4m5s', 9 * D + 3 * H + 4 * M + 5 * S],
    [' 1D 12H ', 36 * H],
    ['0h', 0],
  ])('reads %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '24', '1.5h', '-1h', '1x', 'h', '12h1d', '1h1h', '1d12', '24h!', 'P1D'])('refuses %j, listing the accepted forms', (text) => {
    expect(() => parseDuration(text)).toThrow(`'${text}' is not a duration`);
    expect(() => parseDuration(text)).toThrow(/w \(weeks\), d \(days\), h \(hours\), m \(minutes\), s \(seconds\) — e.g. 45s, 90m, 24h, 7d, 1w, 1d12h, 2h30m/);
  });

  it('says why when it can', () => {
    expect(() => parseDuration('24')).toThrow(/\(a number needs a unit\)/);
    expect(() => parseDuration('12h1d')).toThrow(/unit 'd' out of order/);
    expect(() => parseDuration('1h1h')).toThrow(/unit 'h' repeated/);
  });
});
