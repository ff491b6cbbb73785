import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CancelInstanceRefreshCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeInstanceRefreshesCommand,
  StartInstanceRefreshCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateVersionCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
} from '@aws-sdk/client-ec2';
import { autoScalingApi } from '../../../infra/sandbox/aws/autoscaling-api';
import { ec2Api } from '../../../infra/sandbox/aws/ec2-api';
import { BASE_IMAGE_ID, LocalLaunchTemplates } from '../../../infra/sandbox/cloud/launch-templates';
import { closeAll, eventually, failureOf, localAws, startEndpoint, clientsFor } from './aws-endpoint-helpers';

/* Launch templates and Instance Refresh through the real SDK clients, against the local endpoint. */

jest.setTimeout(10_000);
afterEach(closeAll);

async function refreshAws() {
  const templates = new LocalLaunchTemplates();
  const template = templates.createLaunchTemplate({ name: 'warren-sandbox-nodes', data: { imageId: BASE_IMAGE_ID, instanceType: 't3.medium' } });
  const aws = await localAws({ group: { desiredCapacity: 2, launchTemplates: templates, launchTemplate: { id: template.id, version: '1' } } });
  const endpoint = await startEndpoint([ec2Api(aws.ec2, templates), autoScalingApi(aws.group)]);
  return { ...aws, templates, template, clients: clientsFor(endpoint) };
}

it('creates a launch template version from a source version with a new ImageId, and describes it by $Latest', async () => {
  const aws = await refreshAws();
  const image = aws.templates.registerImage({ rabbitmqConf: 'consumer_timeout = 3600000' });

  const created = await aws.clients.ec2.send(
    new CreateLaunchTemplateVersionCommand({
      LaunchTemplateId: aws.template.id,
      SourceVersion: '1',
      VersionDescription: 'new image',
      LaunchTemplateData: { ImageId: image },
    }),
  );
  const latest = await aws.clients.ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'warren-sandbox-nodes', Versions: ['$Latest', '$Default'] }),
  );
  const described = await aws.clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [aws.template.id] }));
  const missing = await failureOf(aws.clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-0123456789abcdef0'] })));

  expect(created.LaunchTemplateVersion).toMatchObject({
    VersionNumber: 2,
    DefaultVersion: false,
    LaunchTemplateData: { ImageId: image, InstanceType: 't3.medium' },
  });
  expect(latest.LaunchTemplateVersions!.map((version) => [version.VersionNumber, version.LaunchTemplateData?.ImageId])).toEqual([
    [2, image],
    [1, BASE_IMAGE_ID],
  ]);
  expect(described.LaunchTemplates![0]).toMatchObject({ LaunchTemplateName: 'warren-sandbox-nodes', DefaultVersionNumber: 1, LatestVersionNumber: 2 });
  expect(missing).toMatchObject({ name: 'InvalidLaunchTemplateId.NotFound' });
});

it('starts, describes and cancels a refresh, and reports each instance launch template and image', async () => {
  const aws = await refreshAws();
  const members = await aws.startInService();
  const image = aws.templates.registerImage({ rabbitmqConf: 'log.console.level = debug' });
  aws.templates.createVersion({ id: aws.template.id, sourceVersion: '1', data: { imageId: image } });

  const started = await aws.clients.autoScaling.send(
    new StartInstanceRefreshCommand({
      AutoScalingGroupName: 'orders-rabbitmq',
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: aws.template.id, Version: '2' } },
      Preferences: {
        MinHealthyPercentage: 100,
        MaxHealthyPercentage: 150,
        InstanceWarmup: 0,
        CheckpointPercentages: [50, 100],
        CheckpointDelay: 600,
        AutoRollback: true,
      },
    }),
  );
  const again = await failureOf(aws.clients.autoScaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'orders-rabbitmq' })));
  await eventually(() => aws.group.activeActions().find((action) => action.transition === 'launching'), 'a replacement waiting on its launch hook');
  const replacement = aws.group.activeActions().find((action) => action.transition === 'launching')!.instanceId;
  const described = await aws.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'orders-rabbitmq' }));
  const instances = await aws.clients.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [members[0]!.instanceId, replacement] }));
  const group = await aws.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['orders-rabbitmq'] }));
  const ec2 = await aws.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [replacement] }));
  await aws.clients.autoScaling.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: 'orders-rabbitmq' }));
  const cancelled = await aws.clients.autoScaling.send(
    new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'orders-rabbitmq', InstanceRefreshIds: [started.InstanceRefreshId!] }),
  );

  expect(again).toMatchObject({ name: 'InstanceRefreshInProgressFault' });
  expect(described.InstanceRefreshes![0]).toMatchObject({
    InstanceRefreshId: started.InstanceRefreshId,
    Status: 'InProgress',
    PercentageComplete: 0,
    InstancesToUpdate: 2,
    Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 150, CheckpointPercentages: [50, 100], CheckpointDelay: 600, AutoRollback: true },
    DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: aws.template.id, LaunchTemplateName: 'warren-sandbox-nodes', Version: '2' } },
  });
  const byId = new Map(instances.AutoScalingInstances!.map((instance) => [instance.InstanceId, instance.LaunchTemplate?.Version]));
  expect(byId).toEqual(
    new Map([
      [members[0]!.instanceId, '1'],
      [replacement, '2'],
    ]),
  );
  expect(group.AutoScalingGroups![0]!.LaunchTemplate).toEqual({ LaunchTemplateId: aws.template.id, LaunchTemplateName: 'warren-sandbox-nodes', Version: '1' });
  expect(ec2.Reservations![0]!.Instances![0]!.ImageId).toBe(image);
  expect(cancelled.InstanceRefreshes![0]!.Status).toMatch(/^Cancell(ing|ed)$/);
});

it('answers the validation errors in AWS wording through the SDK', async () => {
  const aws = await refreshAws();

  const tooWide = await failureOf(
    aws.clients.autoScaling.send(
      new StartInstanceRefreshCommand({ AutoScalingGroupName: 'orders-rabbitmq', Preferences: { MinHealthyPercentage: 50, MaxHealthyPercentage: 200 } }),
    ),
  );
  const nothing = await failureOf(aws.clients.autoScaling.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: 'orders-rabbitmq' })));

  expect(tooWide).toMatchObject({
    name: 'ValidationError',
    message: 'The difference between MinHealthyPercentage and MaxHealthyPercentage cannot be greater than 100.',
  });
  expect(nothing).toMatchObject({ name: 'ActiveInstanceRefreshNotFoundFault' });
});

it('publishes the Succeeded event in the shape of the documented sample', async () => {
  const aws = await refreshAws();
  await aws.startInService();
  const sample = JSON.parse(readFileSync(join(__dirname, '../../events/asg-instance-refresh-succeeded.json'), 'utf8'));

  aws.group.instanceRefreshes.start({ preferences: { minHealthyPercentage: 0 } });
  await eventually(() => aws.group.activeActions().length > 0, 'replacements launching');
  for (;;) {
    for (const action of aws.group.activeActions()) {
      aws.group.completeLifecycleAction({ groupName: 'orders-rabbitmq', hookName: action.hookName, token: action.token, result: 'CONTINUE' });
    }
    if (aws.group.instanceRefreshes.describe()[0]!.status === 'Successful') break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const event = aws.bus.published.find((candidate) => candidate['detail-type'] === sample['detail-type'])!;

  expect(Object.keys(event).sort()).toEqual(Object.keys(sample).sort());
  expect(Object.keys(event.detail).sort()).toEqual(Object.keys(sample.detail).sort());
  expect(event.source).toBe(sample.source);
});
