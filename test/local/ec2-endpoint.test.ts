import { DescribeInstancesCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { Ec2Fencer } from '../../functions/adapters/ec2-fencer.js';
import { systemClock } from '../../functions/core/ports.js';
import { type Ec2Endpoint, startEc2Endpoint } from '../../local/ec2-endpoint.js';

/**
 * The local EC2 endpoint (local/ec2-endpoint.ts) against the real @aws-sdk/client-ec2 and the watchdog's
 * own fencer: the power fence the local cluster's e2e test relies on must parse what it answers.
 */

const A = 'i-00000000000000001';
const B = 'i-00000000000000002';
let ep: Ec2Endpoint | undefined;

const start = async (stopped: string[]): Promise<{ ep: Ec2Endpoint; client: EC2Client }> => {
  ep = await startEc2Endpoint({ instanceIds: [A, B], onStop: (id) => stopped.push(id) });
  const client = new EC2Client({ region: 'us-east-1', endpoint: ep.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  return { ep, client };
};

afterEach(async () => {
  await ep?.close();
  ep = undefined;
});

describe('local EC2 endpoint', () => {
  it('a forced stop powers the node off once, answers stopping, then describes it stopped until it is started again', async () => {
    const stopped: string[] = [];
    const { ep, client } = await start(stopped);
    const res = await client.send(new StopInstancesCommand({ InstanceIds: [A], Force: true }));
    expect(res.StoppingInstances?.map((i) => [i.InstanceId, i.PreviousState?.Name, i.CurrentState?.Name, i.CurrentState?.Code])).toEqual([
      [A, 'running', 'stopping', 64],
    ]);
    expect(stopped).toEqual([A]);
    const again = await client.send(new StopInstancesCommand({ InstanceIds: [A] }));
    expect(again.StoppingInstances?.[0]?.CurrentState?.Name).toBe('stopped');
    expect(stopped).toEqual([A]);
    const described = await client.send(new DescribeInstancesCommand({ InstanceIds: [A, B] }));
    expect(described.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.State?.Name])).toEqual([
      [A, 'stopped'],
      [B, 'running'],
    ]);
    expect(ep.calls.map((c) => [c.action, c.instanceIds, c.force])).toEqual([
      ['StopInstances', [A], true],
      ['StopInstances', [A], false],
      ['DescribeInstances', [A, B], undefined],
    ]);
    ep.start(A);
    expect(ep.state(A)).toBe('running');
  });

  it("an unknown instance gets EC2's own error code, and nothing is stopped", async () => {
    const stopped: string[] = [];
    const { client } = await start(stopped);
    await expect(client.send(new StopInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }))).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    expect(stopped).toEqual([]);
  });

  it("the watchdog's fencer reports success from the endpoint's answer", async () => {
    const stopped: string[] = [];
    const { client } = await start(stopped);
    const fencer = new Ec2Fencer({ clock: systemClock, client: async () => client });
    const outcome = await fencer.forceStop(B, 5000);
    expect(outcome).toMatchObject({ status: 'success', output: `EC2 reports ${B} stopping` });
    expect(stopped).toEqual([B]);
  });
});
