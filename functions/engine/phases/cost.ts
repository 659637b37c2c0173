/**
 * What a run's findings cost in money: the monthly storage price of the orphaned bytes and of the
 * bytes freed, per store, and the price of the store requests the run itself made.
 *
 * Prices are in US dollars. A "GB" is 2^30 bytes, as AWS bills storage. The defaults are the list
 * prices of S3 Standard in us-east-1; a file store costs nothing unless a price is configured.
 */
import { REQUEST_CLASSES, type StoreRequests } from '../model/requests.js';

/** S3 Standard storage in us-east-1, first 50 TB, USD per GB-month. */
export const DEFAULT_S3_STORAGE_PRICE = 0.023;

/** USD per 1000 requests, S3 Standard in us-east-1: LIST, PUT and COPY $0.005; GET and HEAD $0.0004; DELETE free. */
export const DEFAULT_REQUEST_PRICES: StoreRequests = { list: 0.005, put: 0.005, copy: 0.005, get: 0.0004, head: 0.0004, delete: 0 };

/** Prices as configured: any store or request class left out takes its default. */
export interface PriceSettings {
  /** Store name → USD per GB-month. Default: DEFAULT_S3_STORAGE_PRICE for an S3 store, 0 for a file store. */
  storage?: Record<string, number>;
  /** USD per 1000 requests of each class. */
  requests?: Partial<StoreRequests>;
}

const GB = 2 ** 30;

export interface StoreCost {
  store: string;
  root: string;
  price_per_gb_month: number;
  orphaned_bytes: number;
  orphaned_per_month: number;
  freed_bytes: number;
  freed_per_month: number;
  /** Bytes deleted on a versioned bucket: still billed, as noncurrent versions, until a lifecycle rule expires them. */
  noncurrent_bytes: number;
  noncurrent_per_month: number;
}

/** `report.json` → `cost`. */
export interface CostSummary {
  currency: 'USD';
  /** Monthly storage price of the orphaned bytes (what collecting them would save). */
  orphaned_per_month: number;
  /** Monthly storage price of the bytes this run freed. */
  freed_per_month: number;
  /** Monthly storage price of bytes deleted on versioned buckets, still stored as noncurrent versions. */
  noncurrent_per_month: number;
  /** Price of the store requests this run made. */
  requests_total: number;
  by_store: StoreCost[];
  /** Store requests the run made, by class (counted by the store clients; a file store makes none). */
  requests: StoreRequests;
  request_prices_per_1000: StoreRequests;
}

export interface StoreBytes {
  store: string;
  root: string;
  orphanedBytes: number;
  freedBytes: number;
  noncurrentBytes: number;
}

/** The storage price of one store: configured, else the default of its kind. */
export function storagePriceOf(store: string, root: string, prices: PriceSettings = {}): number {
  const configured = prices.storage?.[store];
  if (configured !== undefined) return configured;
  return root.startsWith('s3://') ? DEFAULT_S3_STORAGE_PRICE : 0;
}

export function costOf(stores: StoreBytes[], requests: StoreRequests, prices: PriceSettings = {}): CostSummary {
  const requestPrices = { ...DEFAULT_REQUEST_PRICES, ...prices.requests };
  const byStore = stores.map((s): StoreCost => {
    const price = storagePriceOf(s.store, s.root, prices);
    return {
      store: s.store,
      root: s.root,
      price_per_gb_month: price,
      orphaned_bytes: s.orphanedBytes,
      orphaned_per_month: (s.orphanedBytes / GB) * price,
      freed_bytes: s.freedBytes,
      freed_per_month: (s.freedBytes / GB) * price,
      noncurrent_bytes: s.noncurrentBytes,
      noncurrent_per_month: (s.noncurrentBytes / GB) * price,
    };
  });
  const sum = (key: 'orphaned_per_month' | 'freed_per_month' | 'noncurrent_per_month'): number => byStore.reduce((n, s) => n + s[key], 0);
  return {
    currency: 'USD',
    orphaned_per_month: sum('orphaned_per_month'),
    freed_per_month: sum('freed_per_month'),
    noncurrent_per_month: sum('noncurrent_per_month'),
    requests_total: REQUEST_CLASSES.reduce((n, key) => n + (requests[key] / 1000) * requestPrices[key], 0),
    by_store: byStore,
    requests,
    request_prices_per_1000: requestPrices,
  };
}

/** Dollars for people: cents for ordinary amounts, more digits for the fractions of a cent small runs cost. */
export function formatUsd(amount: number): string {
  if (amount === 0) return '$0.00';
  if (amount >= 0.01) return `$${amount.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  return `$${amount.toFixed(Math.min(20, 1 - Math.floor(Math.log10(amount))))}`;
}
