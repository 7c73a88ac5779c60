/**
 * The SQS client, imported by tick-queue.ts only below 60 s checks: in the Lambda bundle it is a chunk of
 * its own, which a 60 s deployment does not even contain.
 */
export { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
