import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { AirflowSchedulerWatchdogProps } from '../../infra/lib/props.js';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';

/**
 * Shared fixtures of the infra tests. Stacks are built with bundling skipped (the context key CDK's
 * own tests use), so a test synthesises in a second or two; bundle.test.ts bundles for real once.
 */

const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };
const ENV = { account: '123456789012', region: 'eu-west-1' };

const NODES = [
  { id: 'i-0123456789abcdef0', hostname: 'ip-10-0-1-10.ec2.internal' },
  { id: 'mi-0123456789abcdef0', hostname: 'onprem-airflow-2.example' },
] as const;

/** A fresh app + stack (no bundling). */
const newStack = (id = 'Test', context: Record<string, unknown> = {}): Stack => {
  const app = new App({ context: { ...SKIP_BUNDLING, ...context } });
  return new Stack(app, id, { env: ENV });
};

/** Props of a minimal valid watchdog in `stack` (password from an SSM parameter, DB reached over the internet). */
const baseProps = (stack: Stack, overrides: Partial<AirflowSchedulerWatchdogProps> = {}): AirflowSchedulerWatchdogProps => ({
  cluster: { clusterName: 'prod', nodes: NODES.map((n) => ({ ...n })) },
  database: {
    dialect: 'postgres',
    host: 'airflow-db.example.internal',
    databaseName: 'airflow',
    user: 'watchdog',
    passwordParameter: ssm.StringParameter.fromSecureStringParameterAttributes(stack, `Pw${stack.node.children.length}`, {
      parameterName: '/airflow/watchdog/db-password',
    }),
  },
  publicDatabase: true,
  ...overrides,
});

/** `baseProps` in a VPC (no publicDatabase). */
const inVpc = (props: AirflowSchedulerWatchdogProps, vpc: AirflowSchedulerWatchdogProps['vpc']): AirflowSchedulerWatchdogProps => {
  const { publicDatabase: _p, ...rest } = props;
  return { ...rest, vpc };
};

const build = (
  props: (stack: Stack) => AirflowSchedulerWatchdogProps,
  id = 'Test',
): { stack: Stack; watchdog: AirflowSchedulerWatchdog; template: Template } => {
  const stack = newStack(id);
  const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', props(stack));
  return { stack, watchdog, template: Template.fromStack(stack) };
};

/** The `context` of the repository's cdk.json (the sample configuration the app deploys). */
const cdkJsonContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Makes a template stable across machines and script edits: asset hashes and bundle paths are
 * replaced, and the embedded node script (pinned by ssm-documents.test.ts, owned by test/node) is
 * cut to its first lines.
 */
const scrub = (value: Json, key = ''): Json => {
  if (typeof value === 'string') {
    return value.replace(/[0-9a-f]{64}(\.zip)?/g, (_m, zip) => `[ASSET HASH]${zip ?? ''}`).replace(/\/[^"\s]*\/asset\.[^"\s/]+/g, '[ASSET PATH]');
  }
  if (Array.isArray(value)) {
    if (key === 'runCommand') {
      const cut = value.findIndex((l) => typeof l === 'string' && !l.startsWith('export ') && !l.startsWith('#!'));
      return [...value.slice(0, cut).map((v) => scrub(v)), '<the rest of node/airflow-scheduler.sh>'];
    }
    return value.map((v) => scrub(v));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'aws:asset:path' && k !== 'aws:asset:property')
        .map(([k, v]) => [k, scrub(v, k)]),
    );
  }
  return value;
};

/** The resources of one type in a template, by logical id. */
const resourcesOf = (template: Template, type: string): Record<string, { Properties: Record<string, unknown> } & Record<string, unknown>> =>
  template.findResources(type) as Record<string, { Properties: Record<string, unknown> } & Record<string, unknown>>;

/** The single resource of a type (fails when there are several). */
const onlyResource = (template: Template, type: string): { id: string; Properties: Record<string, unknown> } & Record<string, unknown> => {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`expected exactly one ${type}, found ${entries.length}`);
  const [id, res] = entries[0] as [string, { Properties: Record<string, unknown> }];
  return { id, ...res };
};

export type { Json };
export { baseProps, build, cdkJsonContext, ENV, inVpc, NODES, newStack, onlyResource, resourcesOf, SKIP_BUNDLING, scrub };
