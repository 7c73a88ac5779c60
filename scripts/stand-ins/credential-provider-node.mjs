/*
 * Stand-in for @aws-sdk/credential-provider-node (the SDK clients' default chain) and for
 * @aws-sdk/credential-providers (the RDS signer's `fromNodeProviderChain`) in the watchdog's Lambda
 * bundle (scripts/build-lambda.ts). Lambda hands a function its role's credentials in the environment, so the
 * chain's other links (SSO, shared ini files, web identity, container and instance metadata, and the
 * nested STS/SSO clients they load) are code a deployed watchdog never runs; dropping them keeps about
 * 100 KB of lazily loaded chunks out of every asset. Outside Lambda the same variables are what the local
 * runner sets; without them the error says where credentials were expected.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init = {}) => {
  const env = fromEnv(init);
  return async (options) => {
    try {
      return await env(options);
    } catch (cause) {
      const err = new Error(
        'no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): ' +
          "the watchdog's Lambda bundle reads credentials only from the variables Lambda sets for the function's role",
        { cause },
      );
      err.name = 'CredentialsProviderError';
      throw err;
    }
  };
};


/** What the RDS signer asks @aws-sdk/credential-providers for: the same chain. */
export const fromNodeProviderChain = defaultProvider;
