import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DatabaseConnection } from '../catalog/index.js';
import { ConfigurationError } from '../engine/model/errors.js';
import type { PipelineSettings } from './settings.js';

const ENGINES: Record<string, 'mysql' | 'postgresql'> = {
  mysql: 'mysql',
  mariadb: 'mysql',
  aurora: 'mysql',
  'aurora-mysql': 'mysql',
  postgres: 'postgresql',
  postgresql: 'postgresql',
  'aurora-postgresql': 'postgresql',
};

interface SecretValue {
  engine?: string;
  backend?: string;
  host?: string;
  port?: number | string;
  username?: string;
  password?: string;
  dbname?: string;
}

/**
 * DJGC_DB_TLS, the functions' TLS setting for the database connection:
 * - unset or `true` (the default): TLS required, the server's certificate not checked — what
 *   DataJoint's `use_tls: true` does, and what RDS PostgreSQL 15+ (rds.force_ssl) demands;
 * - `verify-full`: TLS required and the certificate and host name checked against Node's CAs;
 *   for RDS set NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem (the Lambda runtime's bundle with
 *   the RDS CAs) or point it at the RDS global bundle;
 * - `false`: no TLS, for a server that offers none (e.g. inside a private network).
 * No "try TLS, then plain" mode: a function should not quietly drop encryption.
 */
export function databaseTls(env: NodeJS.ProcessEnv = process.env): NonNullable<DatabaseConnection['tls']> {
  const value = (env.DJGC_DB_TLS ?? '').trim().toLowerCase();
  if (value === '' || value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'verify-full') return { rejectUnauthorized: true };
  throw new ConfigurationError(
    `DJGC_DB_TLS is '${env.DJGC_DB_TLS}': use true (TLS, certificate not checked; the default), verify-full (TLS, certificate checked) or false (no TLS).`,
  );
}

/** The database connection from the Secrets Manager secret (RDS format), with the stack's overrides and DJGC_DB_TLS. */
export async function databaseConnection(
  settings: PipelineSettings['database'],
  secrets: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DatabaseConnection> {
  const tls = databaseTls(env);
  let secret: SecretValue = {};
  if (settings.secretArn) {
    const response = await secrets.send(new GetSecretValueCommand({ SecretId: settings.secretArn }));
    try {
      secret = JSON.parse(response.SecretString ?? '') as SecretValue;
    } catch {
      throw new ConfigurationError(`the database secret ${settings.secretArn} is not JSON: store {"backend","host","port","username","password","dbname"} in it.`);
    }
  }
  const engine = settings.backend ?? secret.backend ?? secret.engine;
  const backend = engine ? ENGINES[engine.toLowerCase()] : undefined;
  if (!backend) {
    throw new ConfigurationError(`the database backend is ${engine ? `'${engine}', which is not supported` : 'not set'}: put "backend": "mysql" or "postgresql" in the secret, or set the stack's databaseBackend.`);
  }
  const host = settings.host ?? secret.host;
  const user = settings.user ?? secret.username;
  if (!host) throw new ConfigurationError('the database host is not set: put "host" in the secret, or set the stack\'s databaseHost.');
  if (!user) throw new ConfigurationError('the database user is not set: put "username" in the secret.');
  const port = settings.port ?? (secret.port !== undefined ? Number(secret.port) : backend === 'mysql' ? 3306 : 5432);
  const password = settings.password ?? secret.password;
  const database = settings.name ?? secret.dbname;
  return {
    backend,
    host,
    port,
    user,
    ...(password !== undefined ? { password } : {}),
    ...(backend === 'postgresql' ? { database: database ?? 'postgres' } : {}),
    tls,
  };
}
