import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { readCloudFormation } from '../../infra/deploy/cfn-yaml';
import { writeTemplates } from '../../infra/deploy/build-templates';
import { FUNCTION_PARAMS_FROM_OUTPUTS } from '../../infra/deploy/plan';
import { firstSentence, sharedOpening } from '../../infra/deploy/ssm-documents';
import { loadDocument } from '../../infra/sandbox/nodes';
import { SSM_RESERVED_PREFIX } from '../../shared/config';
import { NODE_OPERATIONS } from '../../shared/rabbitmq/operations';
import { asList, cfnLint, resourcesOf, ROOT, type Template } from './cloudformation';

/** The cluster stack as deployed (infra/cluster.yml), and the documents stack built from infra/ssm. */

const ERLANG_PORTS = [4369, 25672, 35672, 35682];
const MANAGEMENT_PORT = 15672;

/** Every CloudFormation template under infra/ (anything with Resources; SSM and Image Builder documents have none). */
function templatesUnderInfra(dir = join(ROOT, 'infra')): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' ? [] : templatesUnderInfra(path);
    if (!/\.(ya?ml|json)$/.test(entry)) return [];
    const parsed = readCloudFormation(path);
    return parsed && typeof parsed === 'object' && 'Resources' in parsed ? [path] : [];
  });
}

interface Ingress {
  group: unknown;
  from: number;
  to: number;
  cidr?: unknown;
  sourceGroup?: unknown;
}

function ingressRules(template: Template): Ingress[] {
  const inline = resourcesOf(template, 'AWS::EC2::SecurityGroup').flatMap(([name, sg]) =>
    asList(sg.Properties.SecurityGroupIngress).map((rule: any) => ({
      group: { Ref: name },
      from: rule.FromPort,
      to: rule.ToPort,
      cidr: rule.CidrIp,
      sourceGroup: rule.SourceSecurityGroupId,
    })),
  );
  const separate = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, rule]) => ({
    group: rule.Properties.GroupId,
    from: rule.Properties.FromPort,
    to: rule.Properties.ToPort,
    cidr: rule.Properties.CidrIp,
    sourceGroup: rule.Properties.SourceSecurityGroupId,
  }));
  return [...inline, ...separate];
}

const covers = (rule: Ingress, port: number) => rule.from <= port && port <= rule.to;

/**
 * Evaluates a rule assertion or a condition over parameter values, for the intrinsic functions of this
 * template only; `conditions` are the template's, for a condition naming another.
 */
function holds(condition: any, parameters: Record<string, string>, conditions: Record<string, unknown> = {}): unknown {
  const [fn, args] = Object.entries(condition)[0] as [string, any];
  switch (fn) {
    case 'Ref':
      if (!(args in parameters)) throw new Error(`no value for parameter ${args}`);
      return parameters[args];
    case 'Condition':
      return holds(conditions[args], parameters, conditions);
    case 'Fn::Not':
      return !holds(args[0], parameters, conditions);
    case 'Fn::Or':
      return args.some((arg: unknown) => holds(arg, parameters, conditions));
    case 'Fn::Equals':
      return args
        .map((arg: unknown) => (typeof arg === 'object' ? holds(arg, parameters, conditions) : String(arg)))
        .reduce((a: unknown, b: unknown) => a === b);
    default:
      throw new Error(`${fn} is not evaluated here`);
  }
}

const out = mkdtempSync(join(tmpdir(), 'warren-templates-'));
const built = writeTemplates(out);
afterAll(() => rmSync(out, { recursive: true, force: true }));
const read = (file: string): Template => JSON.parse(readFileSync(file, 'utf8'));

describe('the built templates', () => {
  it('pass cfn-lint, as built and as every template under infra/ is written', () => {
    const sources = templatesUnderInfra();
    expect(sources.map((file) => relative(ROOT, file)).sort()).toEqual(['infra/cluster.yml', 'infra/image/image.yml']);
    expect(cfnLint([built.cluster, built.documents, ...sources])).toBe('');
  });

  it('each fit in a direct upload to CloudFormation (51,200 bytes) so deploy needs no bucket', () => {
    const sizes = Object.entries(built).map(([name, file]) => [name, statSync(file).size] as const);
    expect(sizes.map(([name]) => name).sort()).toEqual(['cluster', 'documents', 'image']);
    expect(sizes.filter(([, size]) => size > 51_200)).toEqual([]);
  });
});

describe('the documents stack', () => {
  const template = read(built.documents);
  const cluster = read(built.cluster);
  /** a script as CloudFormation hands it to SSM: its Fn::Join resolved, Fn::FindInMap read from the template's Mappings */
  const resolveScript = (script: unknown): string => {
    if (typeof script === 'string') return script;
    const [separator, parts] = (script as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return parts
      .map((part) => {
        if (typeof part === 'string') return part;
        const [map, top, second] = (part as { 'Fn::FindInMap': [string, string, string] })['Fn::FindInMap'];
        return template.Mappings![map]![top]![second]!;
      })
      .join(separator);
  };

  it('embeds every infra/ssm document as a Command document named prefix + file name, from that file', () => {
    const documents = resourcesOf(template, 'AWS::SSM::Document').map(([, r]) => r.Properties);
    const files = readdirSync(join(ROOT, 'infra', 'ssm')).filter((f) => f.endsWith('.yml'));
    expect(documents).toHaveLength(files.length);
    expect(Object.keys(template.Resources)).toHaveLength(files.length);
    for (const file of files) {
      const name = file.replace(/\.yml$/, '');
      const document = template.Resources[`${name}Document`]!.Properties;
      expect(document.Name).toEqual({ 'Fn::Sub': `\${ClusterName}-${name}` });
      expect(document).toMatchObject({ DocumentType: 'Command', DocumentFormat: 'YAML', UpdateMethod: 'NewVersion' });
      // the file's YAML, its script (infra/ssm/<Document>.sh) without comment-only lines (the shebang kept) and indentation
      const source = parse(readFileSync(join(ROOT, 'infra', 'ssm', file), 'utf8'));
      const script = document.Content.mainSteps[0].inputs.runCommand.map(resolveScript).join('\n') as string;
      expect({ ...document.Content, mainSteps: [] }).toEqual({ ...source, description: firstSentence(source.description), mainSteps: [] });
      expect(script.split('\n').filter((line) => /^\s*#/.test(line))).toEqual(['#!/bin/bash']);
      // the shebang, the document's own line, the shared opening (held once in the template), then the file's script
      const opening = `#!/bin/bash\ndoc=${name} params="${Object.keys(source.parameters ?? {}).join(' ')}"\n${sharedOpening()}\n`;
      expect(script.startsWith(opening)).toBe(true);
      const own = (lines: string) =>
        lines
          .split('\n')
          .filter((line) => !/^\s*#/.test(line))
          .map((line) => line.trimStart());
      // the script is the .sh file the YAML names, next to it
      expect(source.mainSteps[0].inputs.runCommand).toEqual([`${name}.sh`]);
      expect(own(script.slice(opening.length))).toEqual(own(readFileSync(join(ROOT, 'infra', 'ssm', `${name}.sh`), 'utf8')));
      // what the sandbox and the integration tests run is byte for byte what deploys
      expect(loadDocument(name).script).toBe(script);
    }
    for (const operation of Object.values(NODE_OPERATIONS)) expect(files).toContain(`${operation.document}.yml`);
  });

  it("takes the cluster stack's ClusterName parameter, and outputs the prefix the functions get from the cluster stack", () => {
    expect(Object.keys(template.Parameters!)).toEqual(['ClusterName']);
    expect(template.Parameters!.ClusterName).toEqual(cluster.Parameters!.ClusterName);
    // the prefix the functions get (the cluster stack's output) is the one the documents are named with
    expect(template.Outputs!.SsmDocumentPrefix.Value).toEqual({ 'Fn::Sub': '${ClusterName}-' });
    expect(cluster.Outputs!.SsmDocumentPrefix.Value).toEqual(template.Outputs!.SsmDocumentPrefix.Value);
    expect(Object.keys(template.Mappings!)).toEqual(['Scripts']);
  });
});

describe('the cluster stack', () => {
  const template = read(built.cluster);
  /** the listeners a stack with these parameters creates: each one's Condition evaluated */
  const listenersWith = (parameters: Record<string, string>) =>
    resourcesOf(template, 'AWS::ElasticLoadBalancingV2::Listener')
      .filter(([, listener]) => !listener.Condition || holds({ Condition: listener.Condition }, parameters, template.Conditions))
      .map(([, listener]) => listener.Properties)
      .sort((a, b) => a.Port - b.Port);
  const noTls = { CertificateArn: '', PlainListeners: 'true' };
  const certificate = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5e4c9e-1c9b-4b6f-9d3e-2f0a1a2b3c4d';

  it('holds no SSM document: they are the documents stack', () => {
    expect(resourcesOf(template, 'AWS::SSM::Document')).toEqual([]);
    expect(template.Mappings?.Scripts).toBeUndefined();
  });

  it('refuses a cluster name that would give the documents a prefix SSM reserves (aws, amazon, amzn, any case)', () => {
    const { ClusterName } = template.Parameters!;
    const allowed = (name: string) => new RegExp(ClusterName.AllowedPattern).test(name);
    const reserved = ['aws', 'AWS-mq', 'awsome', 'AwsEc2', 'amazon', 'Amazon-mq', 'AMAZONMQ', 'amzn', 'amzn-1', 'AmZn'];
    const fine = [ClusterName.Default, 'prod-mq', 'a', 'aw', 'amaz', 'amazo-mq', 'amz', 'mq-aws', 'x-amazon', 'Amz1', 'waws'];

    expect(reserved.filter(allowed)).toEqual([]);
    expect(fine.filter((name) => !allowed(name))).toEqual([]);
    // the same rule as the functions' SSM_DOCUMENT_PREFIX check, on the prefix the stack outputs
    for (const name of [...reserved, ...fine]) expect(allowed(name)).toBe(!SSM_RESERVED_PREFIX.test(`${name}-`));
    // the rest of the pattern is unchanged: a letter first, at most 27 characters
    expect(['1mq', '-mq', 'a'.repeat(28), 'mq_1'].filter(allowed)).toEqual([]);
    expect(ClusterName.ConstraintDescription).toMatch(/aws, amazon or amzn/);
  });

  it('refuses the cluster sizes the shipped partition handling cannot serve: two nodes both pause on any cut', () => {
    expect(readFileSync(join(ROOT, 'infra', 'node', 'rabbitmq.conf'), 'utf8')).toMatch(/^cluster_partition_handling = pause_minority$/m);
    const sizeRules = Object.values(template.Rules!)
      .flatMap((rule: any) => rule.Assertions)
      .filter((a: any) => /ClusterSize/.test(JSON.stringify(a.Assert)));
    const refusals = (parameters: Record<string, string>) => sizeRules.filter((a: any) => !holds(a.Assert, parameters)).map((a: any) => a.AssertDescription);
    const { ClusterSize, MaxClusterSize } = template.Parameters!;
    const sizes = Array.from({ length: ClusterSize.MaxValue - ClusterSize.MinValue + 1 }, (_, n) => ClusterSize.MinValue + n);

    const refusedSizes = sizes.filter((n) => refusals({ ClusterSize: String(n), MaxClusterSize: '9' }).length > 0);
    const refusedMaxima = sizes.filter((n) => n >= MaxClusterSize.MinValue && refusals({ ClusterSize: '1', MaxClusterSize: String(n) }).length > 0);

    expect(refusedSizes).toEqual([2]);
    expect(refusedMaxima).toEqual([2]);
    expect(refusals({ ClusterSize: '2', MaxClusterSize: '9' })).toEqual([expect.stringMatching(/^ClusterSize 2 is refused: .*pause_minority/)]);
    expect(refusals({ ClusterSize: '3', MaxClusterSize: '2' })).toEqual([expect.stringMatching(/^MaxClusterSize 2 is refused: .*pause_minority/)]);
  });

  it('requires IMDSv2 and encrypts every volume', () => {
    const [[, launchTemplate]] = resourcesOf(template, 'AWS::EC2::LaunchTemplate') as [[string, any]];
    const data = launchTemplate.Properties.LaunchTemplateData;
    expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpEndpoint: 'enabled' });
    expect(data.BlockDeviceMappings.length).toBeGreaterThan(0);
    for (const mapping of data.BlockDeviceMappings) expect(mapping.Ebs.Encrypted).toBe(true);
  });

  it('opens Erlang distribution ports to the cluster own security group only', () => {
    const erlang = ingressRules(template).filter((rule) => ERLANG_PORTS.some((port) => covers(rule, port)));
    expect(erlang.length).toBeGreaterThanOrEqual(3);
    for (const rule of erlang) {
      expect(rule.cidr).toBeUndefined();
      expect(rule.sourceGroup).toEqual(rule.group);
      expect(rule.group).toEqual({ Ref: 'NodeSecurityGroup' });
    }
    const ports = erlang.flatMap((rule) => [rule.from, rule.to]);
    expect(Math.min(...ports)).toBe(4369);
    expect(Math.max(...ports)).toBe(35682);
  });

  it('opens management to the admin CIDR (directly or through the load balancer) and never to 0.0.0.0/0', () => {
    const rules = ingressRules(template);
    expect(rules.some((rule) => JSON.stringify(rule.cidr ?? '').includes('0.0.0.0/0'))).toBe(false);
    const management = rules.filter((rule) => covers(rule, MANAGEMENT_PORT));
    const balancerGroups = management.filter((rule) => rule.sourceGroup).map((rule) => rule.sourceGroup);
    for (const rule of management) {
      if (rule.cidr) expect(rule.cidr).toEqual({ Ref: 'AdminCidr' });
      else expect(rule.sourceGroup).toEqual({ Ref: 'LoadBalancerSecurityGroup' });
    }
    // the load balancer's own 15672 rule is the admin CIDR too
    for (const group of balancerGroups) {
      const upstream = rules.filter((rule) => JSON.stringify(rule.group) === JSON.stringify(group) && covers(rule, MANAGEMENT_PORT));
      expect(upstream.map((rule) => rule.cidr)).toEqual([{ Ref: 'AdminCidr' }]);
    }
    const refusal = JSON.stringify(template.Rules);
    expect(refusal).toContain('"Ref":"AdminCidr"');
    expect(refusal).toContain('0.0.0.0/0');
  });

  it('has a launch hook that abandons and a terminate hook that continues, both outlasting a queued event', () => {
    const [[, group]] = resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup') as [[string, any]];
    const hooks = group.Properties.LifecycleHookSpecificationList;
    const launch = hooks.find((h: any) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING');
    const terminate = hooks.find((h: any) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_TERMINATING');
    expect(launch.DefaultResult).toBe('ABANDON');
    expect(terminate.DefaultResult).toBe('CONTINUE');
    // an event may wait behind one full heal run, then be redelivered after the visibility timeout
    const functions = readCloudFormation(join(ROOT, 'serverless.yml'));
    const healTimeout = functions.functions.heal.timeout;
    const visibility = functions.resources.Resources.HealQueue.Properties.VisibilityTimeout;
    for (const hook of [launch, terminate]) expect(hook.HeartbeatTimeout).toBeGreaterThan(healTimeout + visibility);
  });

  it('tags instances with the cluster tag the functions roles are conditioned on', () => {
    const [[, group]] = resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup') as [[string, any]];
    const tag = group.Properties.Tags.find((t: any) => t.Key === 'warren:cluster');
    expect(tag).toEqual({ Key: 'warren:cluster', Value: { Ref: 'ClusterName' }, PropagateAtLaunch: true });
    expect(group.Properties.AutoScalingGroupName).toEqual({ Ref: 'ClusterName' });
    expect(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')).toContain('ssm:resourceTag/warren:cluster');
  });

  it('spreads the group and the internal NLB over at least two subnets, with short health checks on both ports', () => {
    const [[, group]] = resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup') as [[string, any]];
    const [, withThree, withTwo] = group.Properties.VPCZoneIdentifier['Fn::If'];
    expect(withTwo).toHaveLength(2);
    expect(withThree).toHaveLength(3);
    const [[, balancer]] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer') as [[string, any]];
    expect(balancer.Properties).toMatchObject({ Type: 'network', Scheme: 'internal' });
    expect(listenersWith(noTls).map((listener) => listener.Port)).toEqual([5672, 15672]);
    for (const [, targetGroup] of resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')) {
      expect(targetGroup.Properties).toMatchObject({ Protocol: 'TCP', TargetType: 'instance' });
      expect(targetGroup.Properties.HealthCheckIntervalSeconds).toBeLessThanOrEqual(10);
      // set, not NLB's TCP default of 10 s; within NLB's 2-120 s and below the interval, so checks never overlap
      expect(targetGroup.Properties.HealthCheckTimeoutSeconds).toBe(5);
      expect(targetGroup.Properties.HealthCheckTimeoutSeconds).toBeLessThan(targetGroup.Properties.HealthCheckIntervalSeconds);
    }
  });

  describe('TLS on the load balancer (docs/tls.md)', () => {
    const forwardsTo = (listener: any) => listener.DefaultActions.map((action: any) => [action.Type, action.TargetGroupArn]);
    const byPort = (parameters: Record<string, string>) => Object.fromEntries(listenersWith(parameters).map((l) => [l.Port, l]));

    it('is off by default: plain TCP on 5672 and 15672 only', () => {
      const { CertificateArn, PlainListeners } = template.Parameters!;
      expect(CertificateArn).toMatchObject({ Type: 'String', Default: '' });
      expect(PlainListeners).toMatchObject({ Type: 'String', Default: 'true', AllowedValues: ['true', 'false'] });

      const listeners = listenersWith(noTls);

      expect(listeners.map((l) => [l.Port, l.Protocol])).toEqual([
        [5672, 'TCP'],
        [15672, 'TCP'],
      ]);
      for (const listener of listeners) expect(listener.Certificates).toBeUndefined();
    });

    it('with a certificate, terminates AMQPS on 5671 and management on 443 at the NLB, forwarding to the plain target groups', () => {
      const listeners = byPort({ CertificateArn: certificate, PlainListeners: 'true' });

      expect(
        Object.keys(listeners)
          .map(Number)
          .sort((a, b) => a - b),
      ).toEqual([443, 5671, 5672, 15672]);
      for (const port of [5671, 443]) {
        expect(listeners[port]).toMatchObject({ Protocol: 'TLS', Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }] });
        // TLS 1.2 and 1.3 only: CloudFormation's default, ELBSecurityPolicy-2016-08, still allows TLS 1.0
        expect(listeners[port].SslPolicy).toBe('ELBSecurityPolicy-TLS13-1-2-2021-06');
      }
      expect(forwardsTo(listeners[5671])).toEqual(forwardsTo(listeners[5672]));
      expect(forwardsTo(listeners[443])).toEqual(forwardsTo(listeners[15672]));
      expect(forwardsTo(listeners[5671])).toEqual([['forward', { Ref: 'AmqpTargetGroup' }]]);
      expect(forwardsTo(listeners[443])).toEqual([['forward', { Ref: 'ManagementTargetGroup' }]]);
      // the nodes keep plain 5672 and 15672 behind the NLB
      const targetGroups = Object.fromEntries(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup').map(([name, tg]) => [name, tg.Properties]));
      expect(targetGroups.AmqpTargetGroup).toMatchObject({ Protocol: 'TCP', Port: 5672 });
      expect(targetGroups.ManagementTargetGroup).toMatchObject({ Protocol: 'TCP', Port: 15672 });
    });

    it('turns the plain listeners off only when TLS serves: the load balancer never has no listener', () => {
      expect(listenersWith({ CertificateArn: certificate, PlainListeners: 'false' }).map((l) => [l.Port, l.Protocol])).toEqual([
        [443, 'TLS'],
        [5671, 'TLS'],
      ]);
      expect(listenersWith({ CertificateArn: '', PlainListeners: 'false' }).map((l) => [l.Port, l.Protocol])).toEqual([
        [5672, 'TCP'],
        [15672, 'TCP'],
      ]);
    });

    it('admits each listener port on the load balancer from the CIDR of its plain twin, and no further', () => {
      const balancerRules = ingressRules(template).filter((rule) => JSON.stringify(rule.group) === JSON.stringify({ Ref: 'LoadBalancerSecurityGroup' }));
      const cidrsOf = (port: number) => balancerRules.filter((rule) => covers(rule, port)).map((rule) => rule.cidr);
      const allListeners = listenersWith({ CertificateArn: certificate, PlainListeners: 'true' });

      for (const port of [5671, 5672]) expect(cidrsOf(port)).toEqual([{ Ref: 'ClientCidr' }]);
      for (const port of [443, 15672]) expect(cidrsOf(port)).toEqual([{ Ref: 'AdminCidr' }]);
      // nothing outside the listener ports, and every listener port covered
      const open = balancerRules.flatMap((rule) => Array.from({ length: rule.to - rule.from + 1 }, (_, n) => rule.from + n)).sort((a, b) => a - b);
      expect(open).toEqual(allListeners.map((l) => l.Port));
    });
  });

  it("gives the nodes SSM access and the administrator secret's value, nothing else", () => {
    const [[, role]] = resourcesOf(template, 'AWS::IAM::Role') as [[string, any]];
    expect(role.Properties.ManagedPolicyArns).toEqual([{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' }]);
    expect(role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: 'AdminSecret' } },
    ]);
  });

  it('generates the administrator credential: its value is in no template, parameter or output', () => {
    const [[name, secret]] = resourcesOf(template, 'AWS::SecretsManager::Secret') as [[string, any]];
    expect(secret.Properties.SecretString).toBeUndefined();
    expect(secret.Properties.GenerateSecretString).toMatchObject({ SecretStringTemplate: '{"username":"admin"}', GenerateStringKey: 'password' });
    expect(secret.Properties.GenerateSecretString.PasswordLength).toBeGreaterThanOrEqual(24);
    // the functions stack gets its ARN (DescribeSecret only); nothing reads the value but the nodes
    expect(template.Outputs!.AdminSecretArn!.Value).toEqual({ Ref: name });
    expect(FUNCTION_PARAMS_FROM_OUTPUTS.adminSecretArn).toBe('AdminSecretArn');
    expect(JSON.stringify(template)).not.toMatch(/"SecretString"|resolve:secretsmanager/);
  });
});
