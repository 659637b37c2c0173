import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  secrets: SecretsManagerClient;
}

/**
 * The SDK reads endpoints from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself, so the same
 * code reaches AWS, LocalStack or fauxqs; emulators need path-style S3 addressing.
 */
export function awsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const emulated = Boolean(env.AWS_ENDPOINT_URL);
  return {
    s3: new S3Client({ forcePathStyle: emulated || Boolean(env.AWS_ENDPOINT_URL_S3) }),
    // Emulators hand out queue URLs on hosts of their own (e.g. sqs.us-east-1.localhost).
    sqs: new SQSClient(emulated ? { useQueueUrlAsEndpoint: false } : {}),
    sns: new SNSClient({}),
    secrets: new SecretsManagerClient({}),
  };
}
