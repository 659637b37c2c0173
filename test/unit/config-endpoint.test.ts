import { describe, expect, it } from 'vitest';
import { normalizeStore, resolveStoreEndpoint } from '../../functions/config/datajoint.js';

const store = (extra: Record<string, unknown> = {}) => normalizeStore('s', { protocol: 's3', bucket: 'b', ...extra });
const ENV = { AWS_ENDPOINT_URL: 'http://global.test:4566', AWS_ENDPOINT_URL_S3: 'http://s3only.test:4566' };

describe("a store's effective S3 endpoint", () => {
  it("takes the store's own endpoint over AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL (an endpoint given in code wins)", () => {
    expect(resolveStoreEndpoint(store({ endpoint: 'minio.lab:9000', secure: false }), ENV)).toEqual({
      url: 'http://minio.lab:9000',
      isAws: false,
      source: 'store',
      ignoreConfiguredEndpointUrls: true,
    });
  });

  it("keeps the store's AWS endpoint against the environment, leaving the regional URL to the SDK", () => {
    expect(resolveStoreEndpoint(store({ endpoint: 's3.amazonaws.com' }), ENV)).toEqual({ isAws: true, source: 'store', ignoreConfiguredEndpointUrls: true });
    expect(resolveStoreEndpoint(store({ endpoint: 's3.eu-west-1.amazonaws.com' }), ENV)).toEqual({
      region: 'eu-west-1',
      isAws: true,
      source: 'store',
      ignoreConfiguredEndpointUrls: true,
    });
    expect(resolveStoreEndpoint(store({ endpoint: 's3.dualstack.us-east-1.amazonaws.com' }), {})).toMatchObject({ url: 'https://s3.dualstack.us-east-1.amazonaws.com', isAws: true });
  });

  it('uses https unless secure is false, and keeps a written scheme', () => {
    expect(resolveStoreEndpoint(store({ endpoint: 'ceph.lab' }), {}).url).toBe('https://ceph.lab');
    expect(resolveStoreEndpoint(store({ endpoint: 'http://127.0.0.1:9000', secure: true }), {}).url).toBe('http://127.0.0.1:9000');
  });

  it('falls back to AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, for a store without an endpoint', () => {
    expect(resolveStoreEndpoint(store(), ENV)).toEqual({ url: 'http://s3only.test:4566', isAws: false, source: 'AWS_ENDPOINT_URL_S3', ignoreConfiguredEndpointUrls: false });
    expect(resolveStoreEndpoint(store(), { AWS_ENDPOINT_URL: 'http://global.test:4566' })).toMatchObject({ url: 'http://global.test:4566', source: 'AWS_ENDPOINT_URL' });
    expect(resolveStoreEndpoint(store(), { AWS_ENDPOINT_URL: 'https://s3.us-west-2.amazonaws.com' })).toMatchObject({ isAws: true, source: 'AWS_ENDPOINT_URL' });
  });

  it('is AWS itself when nothing names an endpoint, and ignores the environment under AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', () => {
    expect(resolveStoreEndpoint(store(), { AWS_ENDPOINT_URL: '  ' })).toEqual({ isAws: true, source: 'aws-default', ignoreConfiguredEndpointUrls: false });
    expect(resolveStoreEndpoint(store(), { ...ENV, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toEqual({ isAws: true, source: 'aws-default', ignoreConfiguredEndpointUrls: true });
  });

  it('names the store or the variable when an endpoint is not a URL', () => {
    expect(() => resolveStoreEndpoint(store({ endpoint: 'bad host:x' }), {})).toThrow(/store "s": "endpoint" is "https:\/\/bad host:x", which is not a valid URL/);
    expect(() => resolveStoreEndpoint(store(), { AWS_ENDPOINT_URL: 'not a url' })).toThrow(/AWS_ENDPOINT_URL is "not a url", which is not a valid URL/);
  });
});
