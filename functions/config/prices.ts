/**
 * Prices for the report's cost lines, from djgc.json ("prices") or DJGC_PRICES (the same JSON):
 *
 *   { "storage": { "main": 0.0125, "archive": 0.004 },          USD per GB-month, per store name
 *     "requests": { "list": 0.0054, "get": 0.00043 } }          USD per 1000 requests, per class
 *
 * Anything left out takes the default: S3 Standard in us-east-1 ($0.023 per GB-month; LIST, PUT,
 * COPY $0.005 and GET, HEAD $0.0004 per 1000; DELETE free), and 0 for a file store.
 */
import { z } from 'zod';
import type { PriceSettings } from '../engine/phases/cost.js';
import { DjConfigError } from './values.js';

const price = z.number().finite().nonnegative();
export const pricesSchema = z.strictObject({
  storage: z.record(z.string().min(1), price).optional(),
  requests: z
    .strictObject({ list: price.optional(), put: price.optional(), copy: price.optional(), get: price.optional(), head: price.optional(), delete: price.optional() })
    .optional(),
});

/** `where` names the file or variable in the error. */
export function parsePrices(data: unknown, where: string): PriceSettings {
  const result = pricesSchema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${['prices', ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
    throw new DjConfigError(
      `${where}: ${issues}. Expected {"storage": {"<store>": <USD per GB-month>}, "requests": {"list"|"put"|"copy"|"get"|"head"|"delete": <USD per 1000>}}.`,
    );
  }
  const out: PriceSettings = {};
  if (result.data.storage) out.storage = result.data.storage;
  if (result.data.requests) out.requests = Object.fromEntries(Object.entries(result.data.requests).filter(([, v]) => v !== undefined));
  return out;
}

export function parsePricesText(text: string, where: string): PriceSettings {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DjConfigError(`${where} is not valid JSON (${(error as Error).message}): e.g. {"storage": {"main": 0.023}}.`, { cause: error });
  }
  return parsePrices(data, where);
}
