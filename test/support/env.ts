/**
 * Where the real services for the tests are. `scripts/with-services.sh` starts them and
 * exports these variables; a developer may point them at servers of their own.
 */
function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests through \`npm test\` (scripts/with-services.sh starts PostgreSQL, MariaDB and fauxqs), or export ${name} yourself.`,
    );
  }
  return value;
}

/** e.g. postgres://postgres@127.0.0.1:55432/postgres (a superuser: tests create databases) */
export const postgresUrl = (): string => required('DJGC_TEST_POSTGRES_URL');
/** e.g. mysql://root@127.0.0.1:53306 (a superuser: tests create databases) */
export const mysqlUrl = (): string => required('DJGC_TEST_MYSQL_URL');
/** fauxqs endpoint for S3, SQS and SNS, e.g. http://127.0.0.1:54566 */
export const awsEndpoint = (): string => required('DJGC_TEST_AWS_ENDPOINT');
