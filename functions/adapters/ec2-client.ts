/**
 * The EC2 client, imported by ec2-fencer.ts only when a power fence runs: in the Lambda bundle it is a
 * chunk of its own, which a deployment without fenceUnreachable `ec2-stop` does not even contain.
 */
export { DescribeInstancesCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
