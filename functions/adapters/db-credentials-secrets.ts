/**
 * The Secrets Manager half of the password source, imported by db-credentials.ts only when the
 * configuration names a secret: in the Lambda bundle it is a chunk of its own (Powertools Parameters'
 * secrets provider and the Secrets Manager client), loaded by no other configuration.
 */
export { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
