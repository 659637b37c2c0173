import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { DjgcStackProps } from './djgc-stack.js';
import type { DataJointStores } from './store-sections.js';

/** Every context key the CDK app reads (`-c key=value` or cdk.json "context"). */
export const CONTEXT_KEYS = [
  'stackName',
  'stores',
  'databaseSecretArn',
  'databaseSecretKeyArn',
  'databaseBackend',
  'databaseHost',
  'databasePort',
  'databaseName',
  'schedule',
  'scheduleTimezone',
  'schemas',
  'store',
  'mode',
  'graceHours',
  'notificationEmails',
  'workerConcurrency',
  'reportRetentionDays',
  'runTimeoutMinutes',
  'cooldownMinutes',
  'logLevel',
  'logRetentionDays',
  'reportBucketVersioned',
  'vpcId',
  'subnetIds',
  'securityGroupIds',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

export class ContextError extends Error {
  override readonly name = 'ContextError';
}

export interface AppConfig {
  readonly stackName: string;
  readonly props: DjgcStackProps;
}

/**
 * Build the stack's props from CDK context. Values given with `-c` arrive as strings;
 * values in cdk.json may be JSON. With no context at all the result synthesizes
 * offline: no stores (the stack warns) and a placeholder database secret.
 */
export function appConfig(context: (key: ContextKey) => unknown, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const text = (key: ContextKey): string | undefined => {
    const v = context(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ContextError(`context ${key} must be a string, got ${JSON.stringify(v)}.`);
    return v.trim();
  };
  const number = (key: ContextKey): number | undefined => {
    const v = context(key);
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : Number(String(v).trim());
    if (!Number.isFinite(n)) throw new ContextError(`context ${key} must be a number, got ${JSON.stringify(v)}.`);
    return n;
  };
  const list = (key: ContextKey): string[] | undefined => {
    const v = context(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.map((x: string) => x.trim()).filter(Boolean);
    if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter(Boolean);
    throw new ContextError(`context ${key} must be a comma-separated string or a list of strings, got ${JSON.stringify(v)}.`);
  };
  const flag = (key: ContextKey): boolean | undefined => {
    const v = context(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw new ContextError(`context ${key} must be true or false, got ${JSON.stringify(v)}.`);
  };

  const stores = readStores(context('stores'), env.DJ_STORES);
  const schedule = text('schedule');
  const backend = text('databaseBackend');
  const databaseHost = text('databaseHost');
  const databasePort = number('databasePort');
  const databaseName = text('databaseName');
  if (!backend && (databaseHost || databasePort !== undefined || databaseName)) {
    throw new ContextError('databaseHost, databasePort and databaseName override the secret only together with databaseBackend (mysql or postgresql).');
  }
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
    throw new ContextError('subnetIds and securityGroupIds need vpcId as well.');
  }
  const schemas = list('schemas');
  const store = text('store');

  return {
    stackName: text('stackName') ?? 'Djgc',
    props: {
      description: 'djgc: garbage collector for DataJoint object storage',
      stores,
      databaseSecretArn: text('databaseSecretArn'),
      databaseSecretKeyArn: text('databaseSecretKeyArn'),
      database: backend
        ? {
            backend: backend as 'mysql' | 'postgresql',
            host: databaseHost,
            port: databasePort,
            databaseName,
          }
        : undefined,
      schedule: schedule && ['off', 'disabled', 'false'].includes(schedule.toLowerCase()) ? false : schedule,
      scheduleTimezone: text('scheduleTimezone'),
      scope: schemas || store ? { schemas, store } : undefined,
      mode: text('mode') as DjgcStackProps['mode'],
      graceHours: number('graceHours'),
      notificationEmails: list('notificationEmails'),
      workerConcurrency: number('workerConcurrency'),
      reportRetentionDays: number('reportRetentionDays'),
      runTimeoutMinutes: number('runTimeoutMinutes'),
      cooldownMinutes: number('cooldownMinutes'),
      logLevel: text('logLevel')?.toUpperCase() as DjgcStackProps['logLevel'],
      logRetention: logRetentionDays as RetentionDays | undefined,
      reportBucketVersioned: flag('reportBucketVersioned'),
      vpcAttributes: vpcId ? { vpcId, subnetIds: subnetIds ?? [], securityGroupIds } : undefined,
    },
  };
}

function readStores(fromContext: unknown, fromEnv: string | undefined): DataJointStores {
  const [raw, where] =
    fromContext !== undefined && fromContext !== '' ? [fromContext, 'context stores'] : [fromEnv, 'DJ_STORES'];
  if (raw === undefined || raw === '') return {};
  if (typeof raw !== 'string') return raw as DataJointStores;
  try {
    return JSON.parse(raw) as DataJointStores;
  } catch (error) {
    throw new ContextError(
      `${where} is not valid JSON (${(error as Error).message}); pass the DataJoint stores block, e.g. -c stores='{"default":"main","main":{"protocol":"s3","bucket":"my-bucket","location":"dj"}}'.`,
    );
  }
}
