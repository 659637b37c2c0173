/** Runs the worker handler on one SQS event in its own process, so a test can kill it mid-shard. */
import { handler } from '../../functions/handlers/worker.js';
import { lambdaContext } from '../support/aws.js';

const event = JSON.parse(process.argv[2]!) as Parameters<typeof handler>[0];
await handler(event, lambdaContext('worker'));
