import { GRACE_DEFAULT_HOURS, GRACE_FLOOR_HOURS, RETENTION_DEFAULT_HOURS, type Removal } from '../functions/engine/model/options.js';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { schedulePeriod, ScheduleExpressionError } from './schedule-period.js';
import { storeLayout, storeNames, STORE_POINTER_KEYS, type DataJointStores, type StoreLayout } from './store-sections.js';

export type DjgcMode = 'dry-run' | 'collect';
export type DjgcLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Which part of the server a scheduled run collects. Empty means everything. */
export interface DjgcScope {
  readonly schemas?: string[];
  readonly store?: string;
}

/** The database the scanner and worker read references from. */
export interface DjgcDatabaseProps {
  /**
   * Secret with `{engine|backend, host, port, username, password, dbname?}`. Give it as
   * an `ISecret` or as its ARN (the complete ARN, with its 6-character suffix), not both.
   * Default: the collector creates an empty secret to be filled in after deployment.
   */
  readonly secret?: ISecret;
  readonly secretArn?: string;
  /** Customer managed KMS key of a secret given by ARN, if it has one. */
  readonly secretKeyArn?: string;
  /** `mysql` or `postgresql`; required when host, port or databaseName override the secret. */
  readonly backend?: 'mysql' | 'postgresql';
  readonly host?: string;
  readonly port?: number;
  /** PostgreSQL database that holds the DataJoint schemas. */
  readonly databaseName?: string;
  /** Connect over TLS, verifying the server against Amazon's CA bundle (RDS). Default true. */
  readonly tls?: boolean;
}

/** Where alarms and run notifications go, and when the run alarms fire. */
export interface DjgcAlarmProps {
  /** Addresses subscribed to the topic (run notifications and alarms). */
  readonly emails?: string[];
  /** Orphaned objects as a percentage of stored objects above which a run alarms. Default 50. */
  readonly orphanFractionPercent?: number;
  /**
   * Hours without a finished run before the missed-run alarm fires. Default: twice the
   * schedule period (a `rate(…)`, or one day for a `cron(…)`). At most 168.
   */
  readonly missedRunHours?: number;
}

/** Memory and `/tmp` of one function, in MiB. */
export interface DjgcFunctionSize {
  readonly memoryMiB?: number;
  readonly ephemeralStorageMiB?: number;
}

export interface DjgcSizing {
  /** Default 1024 MiB memory, 2048 MiB `/tmp` (the scanner spills references there). */
  readonly scanner?: DjgcFunctionSize;
  /** Default 1024 MiB memory, 1024 MiB `/tmp`. */
  readonly worker?: DjgcFunctionSize;
}

/** Everything a collector is configured with that is plain data; optional settings have safe defaults. */
export interface DjgcOptions {
  /** The DataJoint `stores` block of the pipeline. */
  readonly stores: DataJointStores;
  /** Stores that belong to someone else and are never collected: name → reason (listed in every report). */
  readonly foreignStores?: Record<string, string>;
  /** Schemas whose references are not read: name → reason (listed in every report). */
  readonly ignoredSchemas?: Record<string, string>;
  readonly database?: DjgcDatabaseProps;
  /** EventBridge Scheduler expression of the scheduled run; `false` deploys the schedule disabled. */
  readonly schedule?: string | false;
  /** IANA time zone of `schedule`, e.g. `Europe/Berlin`. Default UTC. */
  readonly scheduleTimezone?: string;
  readonly scope?: DjgcScope;
  readonly mode?: DjgcMode;
  /** Hours; never below graceFloorHours. Default 24. */
  readonly graceHours?: number;
  /** A collect (scheduled or from the console) with a shorter grace period is refused. Default 24, at least 1. */
  readonly graceFloorHours?: number;
  /** How a collect takes orphans out: moved to the store's quarantine area (default), or deleted at once. */
  readonly removal?: Removal;
  /** Quarantined objects are purged by a later collect after this many hours. Default 168, at least 1. */
  readonly retentionHours?: number;
  readonly alarms?: DjgcAlarmProps;
  readonly sizing?: DjgcSizing;
  /** Workers running at once: the cap that protects the database. Default 5. */
  readonly workerConcurrency?: number;
  readonly reportRetentionDays?: number;
  readonly runTimeoutMinutes?: number;
  /** Minimum minutes between the end of one run and the start of the next. Default 0. */
  readonly cooldownMinutes?: number;
  readonly logLevel?: DjgcLogLevel;
  /**
   * `service` of the functions' logs and the `service` dimension of the run metrics.
   * Default `djgc`; give each collector its own when several share an account and region.
   */
  readonly serviceName?: string;
  /** Hours the notification's presigned links to the report and history pages last: 1 to 168 (the SigV4 maximum, the default). */
  readonly reportLinkExpiryHours?: number;
  /** Prices of the reports' cost lines; defaults: S3 Standard in us-east-1. */
  readonly prices?: DjgcPrices;
}

/** USD. Anything left out takes the default. */
export interface DjgcPrices {
  /** Store name → USD per GB-month (a GB is 2^30 bytes). Default 0.023 (S3 Standard, us-east-1). */
  readonly storage?: Record<string, number>;
  /** USD per 1000 requests. Defaults: list, put, copy 0.005; get, head 0.0004; delete 0. */
  readonly requests?: Partial<Record<'list' | 'put' | 'copy' | 'get' | 'head' | 'delete', number>>;
}

export interface DjgcFunctionSizing {
  readonly memoryMiB: number;
  readonly ephemeralStorageMiB: number;
}

export interface DjgcSettings {
  readonly scheduleExpression: string;
  readonly scheduleEnabled: boolean;
  readonly scheduleTimezone: string | undefined;
  readonly schemas: string[];
  readonly store: string | undefined;
  readonly mode: DjgcMode;
  readonly graceHours: number;
  readonly graceFloorHours: number;
  readonly removal: Removal;
  readonly retentionHours: number;
  readonly stores: DataJointStores;
  readonly foreignStores: Record<string, string>;
  readonly ignoredSchemas: Record<string, string>;
  readonly layout: StoreLayout;
  readonly database: {
    readonly secretArn: string | undefined;
    readonly secretKeyArn: string | undefined;
    readonly backend: 'mysql' | 'postgresql' | undefined;
    readonly host: string | undefined;
    readonly port: number | undefined;
    readonly databaseName: string | undefined;
    readonly tls: boolean;
  };
  readonly alarms: {
    readonly emails: string[];
    readonly orphanFractionPercent: number;
    /** Minutes without a finished run before the missed-run alarm fires; undefined: no such alarm. */
    readonly missedRunMinutes: number | undefined;
    /** Why there is no missed-run alarm, when there is none. */
    readonly noMissedRunAlarm: string | undefined;
  };
  readonly sizing: { readonly scanner: DjgcFunctionSizing; readonly worker: DjgcFunctionSizing };
  readonly workerConcurrency: number;
  readonly reportRetentionDays: number;
  readonly runTimeoutMinutes: number;
  readonly cooldownMinutes: number;
  readonly logLevel: DjgcLogLevel;
  readonly serviceName: string;
  readonly reportLinkExpiryHours: number;
  readonly prices: DjgcPrices;
}

export const DEFAULT_SCHEDULE = 'cron(0 3 * * ? *)';
export const DEFAULT_ORPHAN_FRACTION_PERCENT = 50;
export const DEFAULT_SIZING = {
  scanner: { memoryMiB: 1024, ephemeralStorageMiB: 2048 },
  worker: { memoryMiB: 1024, ephemeralStorageMiB: 1024 },
} as const;
/** CloudWatch evaluates an alarm over at most seven days. */
const MAX_ALARM_WINDOW_MINUTES = 7 * 24 * 60;

export class DjgcSettingsError extends Error {
  override readonly name = 'DjgcSettingsError';
}

function integerIn(name: string, value: number | undefined, fallback: number, min: number, max: number, why = ''): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new DjgcSettingsError(`${name} must be an integer from ${min} to ${max}${why}, got ${JSON.stringify(value)}.`);
  }
  return v;
}

function checkSchedule(expression: string): string {
  if (typeof expression !== 'string' || !/^(cron|rate|at)\(.+\)$/.test(expression.trim())) {
    throw new DjgcSettingsError(
      `schedule ${JSON.stringify(expression)} is not an EventBridge Scheduler expression: use cron(…) (e.g. "${DEFAULT_SCHEDULE}"), rate(…) or at(…), or false to deploy it disabled.`,
    );
  }
  return expression.trim();
}

function checkName(prop: string, name: string): string {
  if (typeof name !== 'string' || !name.trim() || name.includes(',')) {
    throw new DjgcSettingsError(`${prop} must be a list of schema names (no commas), got ${JSON.stringify(name)}.`);
  }
  return name.trim();
}

function checkSchemas(schemas: unknown): string[] {
  if (schemas === undefined) return [];
  if (!Array.isArray(schemas)) {
    throw new DjgcSettingsError(`scope.schemas must be a list of schema names (no commas), got ${JSON.stringify(schemas)}.`);
  }
  return schemas.map((s: string) => checkName('scope.schemas', s));
}

/** A `name → reason` map; every reason is required because every report lists it. */
function checkReasons(prop: string, what: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DjgcSettingsError(`${prop} must map each ${what} to the reason it is left alone, e.g. {"other_lab": "owned by the other lab"}; got ${JSON.stringify(value)}.`);
  }
  const out: Record<string, string> = {};
  for (const [name, reason] of Object.entries(value as Record<string, unknown>)) {
    if (!name.trim() || name.includes(',')) throw new DjgcSettingsError(`${prop} has the key ${JSON.stringify(name)}, which is not a ${what} name.`);
    if (typeof reason !== 'string' || !reason.trim()) {
      throw new DjgcSettingsError(`${prop}.${name} needs a reason (a non-empty string saying why the ${what} is left alone; reports list it), got ${JSON.stringify(reason)}.`);
    }
    out[name.trim()] = reason.trim();
  }
  return out;
}

function checkDatabase(database: DjgcDatabaseProps | undefined): DjgcSettings['database'] {
  const db = database ?? {};
  if (db.backend !== undefined && db.backend !== 'mysql' && db.backend !== 'postgresql') {
    throw new DjgcSettingsError(`database.backend must be "mysql" or "postgresql", got ${JSON.stringify(db.backend)}.`);
  }
  if (!db.backend && (db.host !== undefined || db.port !== undefined || db.databaseName !== undefined)) {
    throw new DjgcSettingsError('database.host, database.port and database.databaseName override the secret only together with database.backend ("mysql" or "postgresql"): set it as well.');
  }
  if (db.port !== undefined) integerIn('database.port', db.port, 0, 1, 65535);
  if (db.host !== undefined && (typeof db.host !== 'string' || !db.host.trim())) {
    throw new DjgcSettingsError(`database.host must be a host name, got ${JSON.stringify(db.host)}.`);
  }
  if (db.tls !== undefined && typeof db.tls !== 'boolean') {
    throw new DjgcSettingsError(`database.tls must be true or false, got ${JSON.stringify(db.tls)}.`);
  }
  if (db.secret && db.secretArn !== undefined) {
    throw new DjgcSettingsError('database.secret and database.secretArn both name the database secret: give one of them.');
  }
  if (db.secretArn !== undefined && !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(db.secretArn)) {
    throw new DjgcSettingsError(
      `database.secretArn ${JSON.stringify(db.secretArn)} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>): copy the full ARN from the Secrets Manager console.`,
    );
  }
  if (db.secretKeyArn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/.test(db.secretKeyArn)) {
    throw new DjgcSettingsError(`database.secretKeyArn ${JSON.stringify(db.secretKeyArn)} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>).`);
  }
  return {
    secretArn: db.secretArn,
    secretKeyArn: db.secretKeyArn,
    backend: db.backend,
    host: db.host,
    port: db.port,
    databaseName: db.databaseName,
    tls: db.tls ?? true,
  };
}

function checkSize(name: 'scanner' | 'worker', size: DjgcFunctionSize | undefined): DjgcFunctionSizing {
  const fallback = DEFAULT_SIZING[name];
  return {
    memoryMiB: integerIn(`sizing.${name}.memoryMiB`, size?.memoryMiB, fallback.memoryMiB, 128, 10240, ' (Lambda memory in MiB)'),
    ephemeralStorageMiB: integerIn(
      `sizing.${name}.ephemeralStorageMiB`,
      size?.ephemeralStorageMiB,
      fallback.ephemeralStorageMiB,
      512,
      10240,
      ' (Lambda /tmp in MiB)',
    ),
  };
}

function checkAlarms(alarms: DjgcAlarmProps | undefined, scheduleExpression: string, scheduleEnabled: boolean): DjgcSettings['alarms'] {
  const emails = alarms?.emails ?? [];
  for (const email of emails) {
    if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email)) {
      throw new DjgcSettingsError(`alarms.emails contains ${JSON.stringify(email)}, which is not an e-mail address.`);
    }
  }
  const orphanFractionPercent = alarms?.orphanFractionPercent ?? DEFAULT_ORPHAN_FRACTION_PERCENT;
  if (typeof orphanFractionPercent !== 'number' || !(orphanFractionPercent > 0 && orphanFractionPercent <= 100)) {
    throw new DjgcSettingsError(
      `alarms.orphanFractionPercent must be a percentage above 0 and at most 100, got ${JSON.stringify(alarms?.orphanFractionPercent)}.`,
    );
  }
  let period;
  try {
    period = schedulePeriod(scheduleExpression);
  } catch (error) {
    if (error instanceof ScheduleExpressionError) throw new DjgcSettingsError(error.message);
    throw error;
  }
  if (alarms?.missedRunHours !== undefined) {
    integerIn('alarms.missedRunHours', alarms.missedRunHours, 0, 1, MAX_ALARM_WINDOW_MINUTES / 60, ' (CloudWatch evaluates an alarm over at most seven days)');
  }
  const none = (why: string) => ({ emails, orphanFractionPercent, missedRunMinutes: undefined, noMissedRunAlarm: why });
  if (!scheduleEnabled) return none('the schedule is disabled');
  if (alarms?.missedRunHours !== undefined) {
    return { emails, orphanFractionPercent, missedRunMinutes: alarms.missedRunHours * 60, noMissedRunAlarm: undefined };
  }
  if (period.minutes === undefined) return none(period.why);
  const window = 2 * period.minutes;
  if (window > MAX_ALARM_WINDOW_MINUTES) {
    return none(
      `twice the schedule period (${window / 60} hours) is longer than the seven days CloudWatch can evaluate; set alarms.missedRunHours to at most 168 to have one`,
    );
  }
  return { emails, orphanFractionPercent, missedRunMinutes: window, noMissedRunAlarm: undefined };
}

/** Apply defaults and validate; throws `DjgcSettingsError` / `StoreConfigError` naming the bad setting. */
export function resolveSettings(options: DjgcOptions): DjgcSettings {
  const foreignStores = checkReasons('foreignStores', 'store', options.foreignStores);
  const ignoredSchemas = checkReasons('ignoredSchemas', 'schema', options.ignoredSchemas);
  for (const name of Object.keys(foreignStores)) {
    if ((STORE_POINTER_KEYS as readonly string[]).includes(name)) {
      throw new DjgcSettingsError(`foreignStores names "${name}", which is a key of the stores block, not a store: name the store itself.`);
    }
  }
  const layout = storeLayout(options.stores, new Set(Object.keys(foreignStores)));
  const store = options.scope?.store;
  if (store !== undefined && !storeNames(options.stores).includes(store)) {
    throw new DjgcSettingsError(
      `scope.store is "${store}" but the stores block defines ${storeNames(options.stores).map((n) => `"${n}"`).join(', ') || 'no store'}: name one of them or leave it out to collect every store.`,
    );
  }
  if (store !== undefined && store in foreignStores) {
    throw new DjgcSettingsError(`scope.store is "${store}", which foreignStores declares foreign: a foreign store is never collected. Name one of your own stores or leave scope.store out.`);
  }
  const schemas = checkSchemas(options.scope?.schemas);
  const ignoredInScope = schemas.filter((s) => s in ignoredSchemas);
  if (ignoredInScope.length) {
    throw new DjgcSettingsError(`scope.schemas names ${ignoredInScope.map((s) => `"${s}"`).join(', ')}, which ignoredSchemas leaves alone: remove it from one of the two.`);
  }
  const mode = options.mode ?? 'dry-run';
  if (mode !== 'dry-run' && mode !== 'collect') {
    throw new DjgcSettingsError(`mode must be "dry-run" or "collect", got ${JSON.stringify(mode)}.`);
  }
  const graceFloorHours = options.graceFloorHours ?? GRACE_FLOOR_HOURS;
  if (typeof graceFloorHours !== 'number' || !Number.isFinite(graceFloorHours) || graceFloorHours < 1) {
    throw new DjgcSettingsError(
      `graceFloorHours must be a number of at least 1, got ${JSON.stringify(options.graceFloorHours)}: DataJoint uploads objects before their row is committed, so younger objects may still be on their way to being referenced.`,
    );
  }
  const graceHours = options.graceHours ?? GRACE_DEFAULT_HOURS;
  if (typeof graceHours !== 'number' || !Number.isFinite(graceHours) || graceHours < graceFloorHours) {
    throw new DjgcSettingsError(
      `graceHours must be a number of at least graceFloorHours (${graceFloorHours}), got ${JSON.stringify(options.graceHours)}: DataJoint uploads objects before their row is committed, so younger objects may still be on their way to being referenced. Lower graceFloorHours (at least 1) on purpose to allow a shorter grace period.`,
    );
  }
  const removal = options.removal ?? 'quarantine';
  if (removal !== 'quarantine' && removal !== 'delete') {
    throw new DjgcSettingsError(`removal must be "quarantine" or "delete", got ${JSON.stringify(options.removal)}.`);
  }
  const retentionHours = options.retentionHours ?? RETENTION_DEFAULT_HOURS;
  if (typeof retentionHours !== 'number' || !Number.isFinite(retentionHours) || retentionHours < 1) {
    throw new DjgcSettingsError(`retentionHours must be a number of at least 1, got ${JSON.stringify(options.retentionHours)}: quarantined objects are kept at least that long before a purge.`);
  }
  const logLevel = options.logLevel ?? 'INFO';
  if (!['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(logLevel)) {
    throw new DjgcSettingsError(`logLevel must be DEBUG, INFO, WARN or ERROR, got ${JSON.stringify(logLevel)}.`);
  }
  const serviceName = options.serviceName ?? 'djgc';
  if (typeof serviceName !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(serviceName)) {
    throw new DjgcSettingsError(`serviceName must be 1 to 64 letters, digits, "_", "." or "-", got ${JSON.stringify(options.serviceName)}.`);
  }
  const scheduleEnabled = options.schedule !== false;
  const scheduleExpression = checkSchedule(options.schedule === false || options.schedule === undefined ? DEFAULT_SCHEDULE : options.schedule);
  return {
    scheduleExpression,
    scheduleEnabled,
    scheduleTimezone: options.scheduleTimezone,
    schemas,
    store,
    mode,
    graceHours,
    graceFloorHours,
    removal,
    retentionHours,
    stores: options.stores,
    foreignStores,
    ignoredSchemas,
    layout,
    database: checkDatabase(options.database),
    alarms: checkAlarms(options.alarms, scheduleExpression, scheduleEnabled),
    sizing: { scanner: checkSize('scanner', options.sizing?.scanner), worker: checkSize('worker', options.sizing?.worker) },
    workerConcurrency: integerIn(
      'workerConcurrency',
      options.workerConcurrency,
      5,
      2,
      1000,
      ' (2 is the least an SQS event source accepts as its maximum concurrency)',
    ),
    reportRetentionDays: integerIn('reportRetentionDays', options.reportRetentionDays, 90, 1, 36500),
    runTimeoutMinutes: integerIn(
      'runTimeoutMinutes',
      options.runTimeoutMinutes,
      90,
      75,
      10080,
      ' (longer than every redelivery of a shard message: 3 deliveries of at most 20 minutes, and overdue runs are finalized every 15 minutes)',
    ),
    cooldownMinutes: integerIn('cooldownMinutes', options.cooldownMinutes, 0, 0, 10080),
    logLevel,
    serviceName,
    reportLinkExpiryHours: integerIn('reportLinkExpiryHours', options.reportLinkExpiryHours, 168, 1, 168, ' (a presigned link lasts at most 7 days)'),
    prices: checkPrices(options.prices),
  };
}

const REQUEST_CLASSES = ['list', 'put', 'copy', 'get', 'head', 'delete'];

function checkPrices(prices: DjgcPrices | undefined): DjgcPrices {
  if (prices === undefined) return {};
  const bad = (where: string, value: unknown): DjgcSettingsError =>
    new DjgcSettingsError(`prices.${where} must be a non-negative number of US dollars, got ${JSON.stringify(value)}.`);
  if (typeof prices !== 'object' || prices === null) throw new DjgcSettingsError(`prices must be an object {storage?, requests?}, got ${JSON.stringify(prices)}.`);
  const unknown = Object.keys(prices).filter((k) => k !== 'storage' && k !== 'requests');
  if (unknown.length > 0) throw new DjgcSettingsError(`prices has unknown key(s) ${unknown.join(', ')}: only "storage" and "requests".`);
  for (const [store, value] of Object.entries(prices.storage ?? {})) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw bad(`storage.${store}`, value);
  }
  for (const [kind, value] of Object.entries(prices.requests ?? {})) {
    if (!REQUEST_CLASSES.includes(kind)) throw new DjgcSettingsError(`prices.requests.${kind} is not a request class: use ${REQUEST_CLASSES.join(', ')}.`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw bad(`requests.${kind}`, value);
  }
  return prices;
}
