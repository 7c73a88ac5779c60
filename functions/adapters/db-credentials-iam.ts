/**
 * The RDS IAM authentication half of the password source, imported by db-credentials.ts only when the
 * configuration uses IAM authentication: in the Lambda bundle it is a chunk of its own (the RDS signer).
 */
export { Signer } from '@aws-sdk/rds-signer';
