import { storeNames, storeSections, type DataJointStores, type StoreSection } from './store-sections.js';

export type DjgcMode = 'dry-run' | 'collect';
export type DjgcLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Which part of the server a scheduled run collects. Empty means everything. */
export interface DjgcScope {
  readonly schemas?: string[];
  readonly store?: string;
}

/** Overrides of what the database secret says. */
export interface DjgcDatabaseOverrides {
  readonly backend: 'mysql' | 'postgresql';
  readonly host?: string;
  readonly port?: number;
  /** PostgreSQL database that holds the DataJoint schemas. */
  readonly databaseName?: string;
}

/** Run settings the stack validates; everything optional has a safe default. */
export interface DjgcRunOptions {
  /** EventBridge Scheduler expression of the nightly run; `false` deploys the schedule disabled. */
  readonly schedule?: string | false;
  /** IANA time zone of `schedule`, e.g. `Europe/Berlin`. Default UTC. */
  readonly scheduleTimezone?: string;
  readonly scope?: DjgcScope;
  readonly mode?: DjgcMode;
  readonly graceHours?: number;
  readonly stores: DataJointStores;
  readonly database?: DjgcDatabaseOverrides;
  readonly notificationEmails?: string[];
  /** Workers running at once: the cap that protects the database. Default 5. */
  readonly workerConcurrency?: number;
  readonly reportRetentionDays?: number;
  readonly runTimeoutMinutes?: number;
  /** Minimum minutes between the end of one run and the start of the next. Default 0. */
  readonly cooldownMinutes?: number;
  readonly logLevel?: DjgcLogLevel;
}

export interface DjgcSettings {
  readonly scheduleExpression: string;
  readonly scheduleEnabled: boolean;
  readonly scheduleTimezone: string | undefined;
  readonly schemas: string[];
  readonly store: string | undefined;
  readonly mode: DjgcMode;
  readonly graceHours: number;
  readonly stores: DataJointStores;
  readonly sections: StoreSection[];
  readonly database: DjgcDatabaseOverrides | undefined;
  readonly notificationEmails: string[];
  readonly workerConcurrency: number;
  readonly reportRetentionDays: number;
  readonly runTimeoutMinutes: number;
  readonly cooldownMinutes: number;
  readonly logLevel: DjgcLogLevel;
}

export const DEFAULT_SCHEDULE = 'cron(0 3 * * ? *)';

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
  if (!/^(cron|rate|at)\(.+\)$/.test(expression.trim())) {
    throw new DjgcSettingsError(
      `schedule ${JSON.stringify(expression)} is not an EventBridge Scheduler expression: use cron(…) (e.g. "${DEFAULT_SCHEDULE}"), rate(…) or at(…), or false to deploy it disabled.`,
    );
  }
  return expression.trim();
}

function checkSchemas(schemas: unknown): string[] {
  if (schemas === undefined) return [];
  if (!Array.isArray(schemas) || schemas.some((s) => typeof s !== 'string' || !s.trim() || s.includes(','))) {
    throw new DjgcSettingsError(`scope.schemas must be a list of schema names (no commas), got ${JSON.stringify(schemas)}.`);
  }
  return schemas.map((s: string) => s.trim());
}

function checkDatabase(database: DjgcDatabaseOverrides | undefined): DjgcDatabaseOverrides | undefined {
  if (database === undefined) return undefined;
  if (database.backend !== 'mysql' && database.backend !== 'postgresql') {
    throw new DjgcSettingsError(`database.backend must be "mysql" or "postgresql", got ${JSON.stringify(database.backend)}.`);
  }
  if (database.port !== undefined) integerIn('database.port', database.port, 0, 1, 65535);
  if (database.host !== undefined && (typeof database.host !== 'string' || !database.host.trim())) {
    throw new DjgcSettingsError(`database.host must be a host name, got ${JSON.stringify(database.host)}.`);
  }
  return database;
}

/** Apply defaults and validate; throws `DjgcSettingsError` / `StoreConfigError` naming the bad setting. */
export function resolveSettings(options: DjgcRunOptions): DjgcSettings {
  const sections = storeSections(options.stores);
  const store = options.scope?.store;
  if (store !== undefined && !storeNames(options.stores).includes(store)) {
    throw new DjgcSettingsError(
      `scope.store is "${store}" but the stores block defines ${storeNames(options.stores).map((n) => `"${n}"`).join(', ') || 'no store'}: name one of them or leave it out to collect every store.`,
    );
  }
  const mode = options.mode ?? 'dry-run';
  if (mode !== 'dry-run' && mode !== 'collect') {
    throw new DjgcSettingsError(`mode must be "dry-run" or "collect", got ${JSON.stringify(mode)}.`);
  }
  const graceHours = options.graceHours ?? 24;
  if (typeof graceHours !== 'number' || !Number.isFinite(graceHours) || graceHours < 1) {
    throw new DjgcSettingsError(
      `graceHours must be a number of at least 1, got ${JSON.stringify(options.graceHours)}: DataJoint uploads objects before their row is committed, so younger objects may still be on their way to being referenced.`,
    );
  }
  const emails = options.notificationEmails ?? [];
  for (const email of emails) {
    if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email)) {
      throw new DjgcSettingsError(`notificationEmails contains ${JSON.stringify(email)}, which is not an e-mail address.`);
    }
  }
  const logLevel = options.logLevel ?? 'INFO';
  if (!['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(logLevel)) {
    throw new DjgcSettingsError(`logLevel must be DEBUG, INFO, WARN or ERROR, got ${JSON.stringify(logLevel)}.`);
  }
  return {
    scheduleExpression: checkSchedule(options.schedule === false || options.schedule === undefined ? DEFAULT_SCHEDULE : options.schedule),
    scheduleEnabled: options.schedule !== false,
    scheduleTimezone: options.scheduleTimezone,
    schemas: checkSchemas(options.scope?.schemas),
    store,
    mode,
    graceHours,
    stores: options.stores,
    sections,
    database: checkDatabase(options.database),
    notificationEmails: emails,
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
      60,
      15,
      10080,
      ' (overdue runs are finalized every 15 minutes)',
    ),
    cooldownMinutes: integerIn('cooldownMinutes', options.cooldownMinutes, 0, 0, 10080),
    logLevel,
  };
}
