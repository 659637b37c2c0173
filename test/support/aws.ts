import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { CreateTopicCommand, DeleteTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsEndpoint } from './env.js';
import { uniqueName } from './names.js';

const config = () => ({ endpoint: awsEndpoint(), region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
export const testSqs = (): SQSClient => new SQSClient({ ...config(), useQueueUrlAsEndpoint: false });
export const testSns = (): SNSClient => new SNSClient(config());

export interface TestQueue {
  url: string;
  arn: string;
  name: string;
}

export async function createQueue(sqs: SQSClient, prefix: string, attributes: Record<string, string> = {}): Promise<TestQueue> {
  const name = uniqueName(prefix);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn!, name };
}

export async function deleteQueues(sqs: SQSClient, queues: TestQueue[]): Promise<void> {
  for (const q of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl: q.url })).catch(() => undefined);
}

/** A topic with a queue subscribed to it, to read what the topic published. */
export async function topicWithInbox(sns: SNSClient, sqs: SQSClient): Promise<{ topicArn: string; inbox: TestQueue; drop(): Promise<void> }> {
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: uniqueName('djgc_topic') }));
  const inbox = await createQueue(sqs, 'djgc_inbox');
  await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: inbox.arn }));
  return {
    topicArn: TopicArn!,
    inbox,
    drop: async () => {
      await sns.send(new DeleteTopicCommand({ TopicArn })).catch(() => undefined);
      await deleteQueues(sqs, [inbox]);
    },
  };
}

export async function receiveAll(sqs: SQSClient, queue: TestQueue, max = 10, visibility = 30): Promise<Message[]> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: max, WaitTimeSeconds: 0, VisibilityTimeout: visibility, MessageSystemAttributeNames: ['All'] }),
  );
  return Messages ?? [];
}

/** The event Lambda's SQS event source hands a function for these received messages. */
export function sqsEvent(queue: TestQueue, messages: Message[]): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'test',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-1',
    })),
  };
}

export const lambdaContext = (functionName: string): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
  memoryLimitInMB: '1024',
  awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'test',
  getRemainingTimeInMillis: () => 900_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | unknown>;

/**
 * What Lambda's event source mapping does: receive, invoke with `batchSize` records, delete the
 * records that did not fail. Returns how many records were processed and how many failed.
 */
export async function pumpQueue(
  sqs: SQSClient,
  queue: TestQueue,
  handler: SqsHandler,
  options: { batchSize?: number; functionName?: string; maxRounds?: number } = {},
): Promise<{ processed: number; failed: number }> {
  let processed = 0;
  let failed = 0;
  for (let round = 0; round < (options.maxRounds ?? 1000); round++) {
    const messages = await receiveAll(sqs, queue, options.batchSize ?? 10);
    if (messages.length === 0) break;
    const event = sqsEvent(queue, messages);
    let failures = new Set<string>();
    try {
      const response = (await handler(event, lambdaContext(options.functionName ?? 'djgc'))) as SQSBatchResponse | undefined;
      failures = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failures = new Set(messages.map((m) => m.MessageId!));
    }
    processed += messages.length;
    failed += failures.size;
    const done = messages.filter((m) => !failures.has(m.MessageId!));
    if (done.length > 0) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
  }
  return { processed, failed };
}
