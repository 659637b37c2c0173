/**
 * Where a store's S3 client really sends its requests, read from the request the SDK builds (the
 * request is stopped before it leaves the process), and that the store's physical root, which every
 * report shows, names the same place.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { createS3Client, physicalRoot } from '../../functions/stores/index.js';

const store = (extra: Record<string, unknown> = {}) => normalizeStore('s', { protocol: 's3', bucket: 'lab-bucket', access_key: 'k', secret_key: 's', ...extra });
const ENV = { AWS_ENDPOINT_URL: 'http://global.test:4566', AWS_ENDPOINT_URL_S3: 'http://s3only.test:4566' };

class Stopped extends Error {}

/** The URL (without query) of the request `client` would send for HeadObject lab-bucket/key. */
async function requestUrl(client: S3Client): Promise<string> {
  let url = '';
  client.middlewareStack.add(
    () => async (args) => {
      const request = args.request as { protocol: string; hostname: string; port?: number; path: string };
      url = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}${request.path}`;
      throw new Stopped();
    },
    { step: 'finalizeRequest', priority: 'low' },
  );
  await expect(client.send(new HeadObjectCommand({ Bucket: 'lab-bucket', Key: 'key' }))).rejects.toBeInstanceOf(Stopped);
  return url;
}

const saved = { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3 };
afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe("a store's S3 client goes where its physical root says", () => {
  it("Given a store with its own endpoint and both AWS_ENDPOINT_URL variables, Then the store's endpoint is used, path-style, over http when secure is false", async () => {
    const spec = store({ endpoint: 'minio.lab:9000', secure: false });
    expect(await requestUrl(createS3Client(spec, { env: ENV }))).toBe('http://minio.lab:9000/lab-bucket/key');
    expect(physicalRoot(spec, ENV)).toBe('s3://minio.lab:9000/lab-bucket');
  });

  it('Given a store without an endpoint, Then AWS_ENDPOINT_URL_S3 is used before AWS_ENDPOINT_URL', async () => {
    expect(await requestUrl(createS3Client(store(), { env: ENV }))).toBe('http://s3only.test:4566/lab-bucket/key');
    expect(physicalRoot(store(), ENV)).toBe('s3://s3only.test:4566/lab-bucket');
    const globalOnly = { AWS_ENDPOINT_URL: ENV.AWS_ENDPOINT_URL };
    expect(await requestUrl(createS3Client(store(), { env: globalOnly }))).toBe('http://global.test:4566/lab-bucket/key');
    expect(physicalRoot(store(), globalOnly)).toBe('s3://global.test:4566/lab-bucket');
  });

  it('Given AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, Then a store without an endpoint goes to AWS, virtual-hosted', async () => {
    const env = { ...ENV, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' };
    expect(await requestUrl(createS3Client(store(), { env }))).toBe('https://lab-bucket.s3.us-east-1.amazonaws.com/key');
    expect(physicalRoot(store(), env)).toBe('s3://s3.amazonaws.com/lab-bucket');
  });

  it("Given an AWS endpoint in the store and AWS_ENDPOINT_URL in the process's environment, Then the client does not pick the variable up by itself", async () => {
    process.env.AWS_ENDPOINT_URL = 'http://behind-the-back.test:4566';
    process.env.AWS_ENDPOINT_URL_S3 = 'http://behind-the-back.test:4566';
    const regional = store({ endpoint: 's3.eu-west-1.amazonaws.com' });
    expect(await requestUrl(createS3Client(regional))).toBe('https://lab-bucket.s3.eu-west-1.amazonaws.com/key');
    expect(physicalRoot(regional)).toBe('s3://s3.amazonaws.com/lab-bucket');
    // An environment given in code is the only one read: the process's variables are not consulted behind it.
    expect(await requestUrl(createS3Client(store(), { env: {} }))).toBe('https://lab-bucket.s3.us-east-1.amazonaws.com/key');
    expect(physicalRoot(store(), {})).toBe('s3://s3.amazonaws.com/lab-bucket');
  });
});
