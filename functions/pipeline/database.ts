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

/** The database connection from the Secrets Manager secret (RDS format), with the stack's overrides. */
export async function databaseConnection(settings: PipelineSettings['database'], secrets: SecretsManagerClient): Promise<DatabaseConnection> {
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
  };
}
