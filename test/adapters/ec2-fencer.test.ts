import { DescribeInstancesCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { Ec2Fencer } from '../../functions/adapters/ec2-fencer.js';
import { ManualClock } from '../helpers/fakes.js';

/** STONITH through EC2 (fenceUnreachable ec2-stop): success only once EC2 reports the instance stopping or stopped. */

const ID = 'i-0aaaaaaaaaaaaaaa1';
const setup = () => {
  const mock = mockClient(EC2Client);
  const clock = new ManualClock();
  const fencer = new Ec2Fencer({ clock, client: async () => new EC2Client({ region: 'us-east-1' }) });
  return { mock, clock, fencer };
};
const described = (state: string) => ({ Reservations: [{ Instances: [{ InstanceId: ID, State: { Name: state } }] }] }) as never;

describe('Ec2Fencer', () => {
  it('force-stops the instance and succeeds when StopInstances already reports it stopping', async () => {
    const { mock, fencer } = setup();
    mock.on(StopInstancesCommand).resolves({ StoppingInstances: [{ InstanceId: ID, CurrentState: { Name: 'stopping' } }] });
    const o = await fencer.forceStop(ID, 60_000);
    expect(o.status).toBe('success');
    expect(mock.commandCalls(StopInstancesCommand)[0]?.args[0].input).toEqual({ InstanceIds: [ID], Force: true });
  });

  it('polls DescribeInstances until EC2 reports the instance stopped', async () => {
    const { mock, fencer } = setup();
    mock.on(StopInstancesCommand).resolves({ StoppingInstances: [{ InstanceId: ID, CurrentState: { Name: 'running' } }] });
    mock.on(DescribeInstancesCommand).resolvesOnce(described('running')).resolves(described('stopped'));
    const o = await fencer.forceStop(ID, 60_000);
    expect(o).toMatchObject({ status: 'success', output: `EC2 reports ${ID} stopped` });
    expect(mock.commandCalls(DescribeInstancesCommand)).toHaveLength(2);
  });

  it('a refused StopInstances is a failure (the guarded start is not attempted)', async () => {
    const { mock, fencer } = setup();
    mock.on(StopInstancesCommand).rejects(Object.assign(new Error('You are not authorized'), { name: 'UnauthorizedOperation' }));
    const o = await fencer.forceStop(ID, 60_000);
    expect(o.status).toBe('failed');
    expect(o.status === 'failed' && o.stderrTail).toContain('UnauthorizedOperation');
  });

  it('an instance still running at the bound is a timeout, never a success', async () => {
    const { mock, fencer, clock } = setup();
    const t0 = clock.now();
    mock.on(StopInstancesCommand).resolves({ StoppingInstances: [] });
    mock.on(DescribeInstancesCommand).resolves(described('running'));
    const o = await fencer.forceStop(ID, 10_000);
    expect(o.status).toBe('timeout');
    expect(clock.now() - t0).toBeLessThanOrEqual(10_000);
  });

  it('refuses to act on a hybrid node id: EC2 cannot stop it', async () => {
    const { mock, fencer } = setup();
    const o = await fencer.forceStop('mi-0123456789abcdef0', 60_000);
    expect(o.status).toBe('failed');
    expect(mock.commandCalls(StopInstancesCommand)).toHaveLength(0);
  });
});
