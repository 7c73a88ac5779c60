import type { EC2Client } from './ec2-client.js';
import type { CommandOutcome, CommandOutcomeDraft } from '../core/model.js';
import type { Clock, Fencer } from '../core/ports.js';

/**
 * STONITH for EC2 nodes (fenceUnreachable `ec2-stop`, docs/design.md "Fencing"): `StopInstances` with
 * `Force` (no graceful OS shutdown: a node that SSM cannot reach may not shut down cleanly either),
 * then `DescribeInstances` until EC2 reports the instance `stopping`, `stopped`, `shutting-down` or
 * `terminated`. From `stopping` on, the instance's processes no longer run, so the replacement may
 * start. The EC2 client is loaded only when a fence is needed.
 */


const FENCED_STATES = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);
const POLL_MS = 1_000;

interface Ec2FencerOptions {
  readonly clock: Clock;
  /** Builds the EC2 client on first use; default: region and credentials the usual way, adaptive retry. */
  readonly client?: () => Promise<EC2Client>;
  readonly region?: string;
}

/** Loaded on first use, so a deployment that never fences never evaluates the EC2 client. */
const loadEc2 = (): Promise<typeof import('./ec2-client.js')> => import('./ec2-client.js');

const errorText = (e: unknown): string => {
  const x = e as { name?: unknown; message?: unknown };
  return `${typeof x?.name === 'string' ? x.name : 'Error'}: ${typeof x?.message === 'string' ? x.message : String(e)}`;
};

class Ec2Fencer implements Fencer {
  readonly #clock: Clock;
  readonly #client: () => Promise<EC2Client>;

  constructor(options: Ec2FencerOptions) {
    this.#clock = options.clock;
    const region = options.region;
    this.#client =
      options.client ?? (async () => new (await loadEc2()).EC2Client({ retryMode: 'adaptive', maxAttempts: 3, ...(region === undefined ? {} : { region }) }));
  }

  async forceStop(instanceId: string, boundMs: number): Promise<CommandOutcome> {
    const started = this.#clock.now();
    const done = (o: CommandOutcomeDraft): CommandOutcome => ({ ...o, durationMs: this.#clock.now() - started });
    if (!/^i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(instanceId)) {
      return done({ status: 'failed', exitCode: null, stderrTail: `not sent: ${instanceId} is not an EC2 instance id` });
    }
    const { StopInstancesCommand, DescribeInstancesCommand } = await loadEc2();
    const client = await this.#client();
    let state: string | undefined;
    try {
      const res = await client.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: true }), {
        abortSignal: AbortSignal.timeout(Math.max(1000, boundMs)),
      });
      state = res.StoppingInstances?.find((i) => i.InstanceId === instanceId)?.CurrentState?.Name;
    } catch (e) {
      return done({ status: 'failed', exitCode: null, stderrTail: `StopInstances (Force) refused: ${errorText(e)}` });
    }
    const deadline = started + boundMs;
    for (;;) {
      if (state !== undefined && FENCED_STATES.has(state)) {
        return done({ status: 'success', commandId: `ec2-stop-${instanceId}`, output: `EC2 reports ${instanceId} ${state}` });
      }
      if (this.#clock.now() + POLL_MS > deadline) break;
      await this.#clock.sleep(POLL_MS);
      try {
        const res = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), {
          abortSignal: AbortSignal.timeout(Math.max(1000, deadline - this.#clock.now())),
        });
        state = res.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId)?.State?.Name;
      } catch {
        // A failed poll leaves the state as last seen; the bound decides.
      }
    }
    return done({ status: 'timeout', commandId: `ec2-stop-${instanceId}`, phase: 'execution', detail: `EC2 still reports ${instanceId} ${state ?? 'unknown'} after ${boundMs / 1000} s` });
  }
}

/** Imports the EC2 client at cold start (the handler's preload), so the first fence pays no module load. */
const preloadEc2 = async (): Promise<void> => {
  await loadEc2();
};

export { Ec2Fencer, FENCED_STATES, preloadEc2 };
export type { Ec2FencerOptions };
