import type { Observation } from './model.js';

/**
 * The watchdog's error hierarchy. Only configuration and request errors are thrown to callers;
 * outside-system failures (DB down, lost race, SSM timeout) are modelled as values by the adapters.
 */
class WatchdogError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WatchdogError';
  }
}

/** A configuration value is missing or impossible. The message names the field and the value. */
class ConfigError extends WatchdogError {
  constructor(
    message: string,
    readonly issues: readonly string[] = [message],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A manual payload is malformed. `field` is the dotted path of the first bad field. */
class InvalidRequestError extends WatchdogError {
  constructor(
    message: string,
    readonly field: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'InvalidRequestError';
  }
}

/** A well-formed request that cannot be honoured in the current state (e.g. failover while the DB is down). */
class RefusedError extends WatchdogError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RefusedError';
  }
}

/** An outside system answered with something we cannot interpret (bad DB row, unknown SSM status). */
class ProtocolError extends WatchdogError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

/**
 * The record could not be read, so the tick cannot decide; the other readings it took travel with the
 * error (the DB reading still feeds metrics and the liveness evidence of later ticks).
 */
class RecordUnavailableError extends WatchdogError {
  constructor(
    cause: unknown,
    readonly observation: Observation,
    readonly observedAt: number,
  ) {
    super(`record unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RecordUnavailableError';
  }
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export { ConfigError, errorMessage, InvalidRequestError, ProtocolError, RecordUnavailableError, RefusedError, WatchdogError };
