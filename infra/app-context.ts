import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { DjgcStackProps } from './djgc-stack.js';
import type { DataJointStores } from './store-sections.js';

/**
 * Every context key the CDK app reads (`-c key=value` or cdk.json "context") and the
 * prop of `DjgcStack` / `DjgcCollector` it sets.
 */
export const CONTEXT_MAPPING = {
  stackName: '(the stack name)',
  stores: 'stores',
  foreignStores: 'foreignStores',
  ignoredSchemas: 'ignoredSchemas',
  databaseSecretArn: 'database.secretArn',
  databaseSecretKeyArn: 'database.secretKeyArn',
  databaseBackend: 'database.backend',
  databaseHost: 'database.host',
  databasePort: 'database.port',
  databaseName: 'database.databaseName',
  databaseTls: 'database.tls',
  schedule: 'schedule',
  scheduleTimezone: 'scheduleTimezone',
  schemas: 'scope.schemas',
  store: 'scope.store',
  mode: 'mode',
  graceHours: 'graceHours',
  graceFloorHours: 'graceFloorHours',
  removal: 'removal',
  retentionHours: 'retentionHours',
  notificationEmails: 'alarms.emails',
  orphanFractionPercent: 'alarms.orphanFractionPercent',
  missedRunHours: 'alarms.missedRunHours',
  scannerMemoryMiB: 'sizing.scanner.memoryMiB',
  scannerEphemeralStorageMiB: 'sizing.scanner.ephemeralStorageMiB',
  workerMemoryMiB: 'sizing.worker.memoryMiB',
  workerEphemeralStorageMiB: 'sizing.worker.ephemeralStorageMiB',
  workerConcurrency: 'workerConcurrency',
  reportRetentionDays: 'reportRetentionDays',
  runTimeoutMinutes: 'runTimeoutMinutes',
  cooldownMinutes: 'cooldownMinutes',
  logLevel: 'logLevel',
  logRetentionDays: 'logRetention',
  reportBucketVersioned: 'reportBucketVersioned',
  serviceName: 'serviceName',
  reportLinkExpiryHours: 'reportLinkExpiryHours',
  storagePrices: 'prices.storage',
  requestPrices: 'prices.requests',
  vpcId: 'vpcAttributes.vpcId',
  subnetIds: 'vpcAttributes.subnetIds',
  securityGroupIds: 'vpcAttributes.securityGroupIds',
} as const;

export type ContextKey = keyof typeof CONTEXT_MAPPING;
export const CONTEXT_KEYS = Object.keys(CONTEXT_MAPPING) as ContextKey[];

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

export interface AppConfig {
  readonly stackName: string;
  readonly props: DjgcStackProps;
}

/** Drop the keys whose value is undefined, and the object itself when nothing is left. */
function defined<T extends object>(value: T): T | undefined {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.length ? (Object.fromEntries(entries) as T) : undefined;
}

/**
 * Build the stack's props from CDK context. Values given with `-c` arrive as strings;
 * values in cdk.json may be JSON. With no context at all the result synthesizes
 * offline: no stores (the stack warns) and a placeholder database secret.
 */
export function appConfig(context: (key: ContextKey) => unknown, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const given = (key: ContextKey): unknown => {
    const v = context(key);
    return v === null || v === '' ? undefined : v;
  };
  const text = (key: ContextKey): string | undefined => {
    const v = given(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ContextError(`context ${key} must be a string, got ${JSON.stringify(v)}.`);
    return v.trim();
  };
  const number = (key: ContextKey): number | undefined => {
    const v = given(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : Number(String(v).trim());
    if (!Number.isFinite(n)) throw new ContextError(`context ${key} must be a number, got ${JSON.stringify(v)}.`);
    return n;
  };
  const list = (key: ContextKey): string[] | undefined => {
    const v = given(key);
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.map((x: string) => x.trim()).filter(Boolean);
    if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter(Boolean);
    throw new ContextError(`context ${key} must be a comma-separated string or a list of strings, got ${JSON.stringify(v)}.`);
  };
  const flag = (key: ContextKey): boolean | undefined => {
    const v = given(key);
    if (v === undefined) return undefined;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw new ContextError(`context ${key} must be true or false, got ${JSON.stringify(v)}.`);
  };
  const json = (key: ContextKey, example: string): unknown => {
    const v = given(key);
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch (error) {
      throw new ContextError(`context ${key} is not valid JSON (${(error as Error).message}); pass it like -c ${key}='${example}'.`);
    }
  };

  const storesGiven = given('stores') !== undefined;
  const stores = (storesGiven
    ? json('stores', '{"default":"main","main":{"protocol":"s3","bucket":"my-bucket","location":"dj"}}')
    : readEnvStores(env.DJ_STORES)) ?? {};
  const schedule = text('schedule');
  const logRetentionDays = number('logRetentionDays');
  if (logRetentionDays !== undefined && !Object.values(RetentionDays).includes(logRetentionDays)) {
    throw new ContextError(
      `context logRetentionDays ${logRetentionDays} is not a CloudWatch Logs retention; use one of ${Object.values(RetentionDays).filter((d) => typeof d === 'number').join(', ')}.`,
    );
  }
  const vpcId = text('vpcId');
  const subnetIds = list('subnetIds');
  const securityGroupIds = list('securityGroupIds');
  if (!vpcId && (subnetIds || securityGroupIds)) {
    throw new ContextError('context subnetIds and securityGroupIds need vpcId as well.');
  }
  const schemas = list('schemas');
  const store = text('store');

  return {
    stackName: text('stackName') ?? 'Djgc',
    props: {
      description: 'djgc: garbage collector for DataJoint object storage',
      stores: stores as DataJointStores,
      foreignStores: json('foreignStores', '{"other_lab":"owned by the other lab"}') as Record<string, string> | undefined,
      ignoredSchemas: json('ignoredSchemas', '{"scratch":"temporary tables, never referenced"}') as Record<string, string> | undefined,
      database: defined({
        secretArn: text('databaseSecretArn'),
        secretKeyArn: text('databaseSecretKeyArn'),
        backend: text('databaseBackend') as 'mysql' | 'postgresql' | undefined,
        host: text('databaseHost'),
        port: number('databasePort'),
        databaseName: text('databaseName'),
        tls: flag('databaseTls'),
      }),
      schedule: schedule && ['off', 'disabled', 'false'].includes(schedule.toLowerCase()) ? false : schedule,
      scheduleTimezone: text('scheduleTimezone'),
      scope: defined({ schemas, store }),
      mode: text('mode') as DjgcStackProps['mode'],
      graceHours: number('graceHours'),
      graceFloorHours: number('graceFloorHours'),
      removal: text('removal') as DjgcStackProps['removal'],
      retentionHours: number('retentionHours'),
      alarms: defined({
        emails: list('notificationEmails'),
        orphanFractionPercent: number('orphanFractionPercent'),
        missedRunHours: number('missedRunHours'),
      }),
      sizing: defined({
        scanner: defined({ memoryMiB: number('scannerMemoryMiB'), ephemeralStorageMiB: number('scannerEphemeralStorageMiB') }),
        worker: defined({ memoryMiB: number('workerMemoryMiB'), ephemeralStorageMiB: number('workerEphemeralStorageMiB') }),
      }),
      workerConcurrency: number('workerConcurrency'),
      reportRetentionDays: number('reportRetentionDays'),
      runTimeoutMinutes: number('runTimeoutMinutes'),
      cooldownMinutes: number('cooldownMinutes'),
      logLevel: text('logLevel')?.toUpperCase() as DjgcStackProps['logLevel'],
      logRetention: logRetentionDays as RetentionDays | undefined,
      reportBucketVersioned: flag('reportBucketVersioned'),
      serviceName: text('serviceName'),
      reportLinkExpiryHours: number('reportLinkExpiryHours'),
      prices: defined({
        storage: json('storagePrices', '{"main":0.0125}') as Record<string, number> | undefined,
        requests: json('requestPrices', '{"list":0.0054,"get":0.00043}') as Record<string, number> | undefined,
      }),
      vpcAttributes: vpcId ? { vpcId, subnetIds: subnetIds ?? [], securityGroupIds } : undefined,
    },
  };
}

function readEnvStores(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ContextError(
      `DJ_STORES is not valid JSON (${(error as Error).message}); pass the DataJoint stores block, e.g. -c stores='{"default":"main","main":{"protocol":"s3","bucket":"my-bucket","location":"dj"}}'.`,
    );
  }
}
