import { rmSync } from 'node:fs';
import { NODE_NAME_TAG, RABBITMQ_VERSION_TAG } from '../../shared/aws/inventory';
import { asList, packageFunctions, type Template } from './cloudformation';
import { everyAdapterAction, functionNeeds, type FunctionNeeds } from './sdk-calls';

/**
 * Each function's role, in the packaged template, against what its code can send to AWS
 * (derived from the source by ./sdk-calls.ts, never listed by hand).
 */

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** What Lambda itself needs besides the code's own calls: its logs, and SQS polling for the heal function. */
const PLATFORM_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];
const READ_ONLY = /^[a-z0-9-]+:(Describe|Get|List)/;
/**
 * What only the operator's `warren status` and `warren plan` send, with the operator's own credentials
 * (docs/operations.md "Status and plan against AWS" grants them; tests/unit/operate checks that policy).
 */
const OPERATOR_ONLY_ACTIONS = ['lambda:GetFunctionConfiguration', 'sqs:GetQueueAttributes'];
/** Mutating actions IAM authorises only on "*": the Service Authorization Reference lists no resource types for them. */
const NO_RESOURCE_TYPES = ['ssm:CancelCommand'];

function statementsOf(template: Template, handler: string): Statement[] {
  const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === handler);
  if (!fn) throw new Error(`no function with handler ${handler}`);
  const roleName = /^\$\{(\w+)\.Arn\}$/.exec(fn.Properties.Role['Fn::Sub'] ?? '')?.[1] ?? fn.Properties.Role['Fn::GetAtt']?.[0];
  const role = template.Resources[roleName];
  expect(role?.Type).toBe('AWS::IAM::Role');
  return role!.Properties.Policies.flatMap((policy: any) => policy.PolicyDocument.Statement);
}

const actionsOf = (statements: Statement[]) => [...new Set(statements.flatMap((s) => asList(s.Action)))].sort();
const grantsOf = (statements: Statement[], action: string) => statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action));
const resourceText = (s: Statement) => JSON.stringify(s.Resource);

describe('least-privilege roles, derived from the code', () => {
  let packaged: ReturnType<typeof packageFunctions>;
  const FUNCTIONS = ['heal', 'triage'] as const;
  type FunctionName = (typeof FUNCTIONS)[number];
  const needs = Object.fromEntries(FUNCTIONS.map((name) => [name, functionNeeds(`functions/${name}/handler.ts`)])) as Record<FunctionName, FunctionNeeds>;
  const handlers = Object.fromEntries(FUNCTIONS.map((name) => [name, `functions/${name}/handler.handler`])) as Record<FunctionName, string>;

  beforeAll(() => {
    packaged = packageFunctions();
  }, 200_000);
  afterAll(() => rmSync(packaged.out, { recursive: true, force: true }));

  it('derives from the code what each function sends, alarm runbooks and the rebalance after a refresh included in heal', () => {
    expect(needs.heal.kinds).toEqual(expect.arrayContaining(['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded']));
    expect(needs.heal.actions).toEqual(
      expect.arrayContaining([
        'autoscaling:CompleteLifecycleAction',
        'ssm:SendCommand',
        'elasticloadbalancing:RegisterTargets',
        'autoscaling:SetInstanceHealth',
        'sqs:SendMessage',
        'sqs:ChangeMessageVisibility',
      ]),
    );
    // every command an adapter can send is reachable from one function or another, or is the operator's
    expect([...new Set([...FUNCTIONS.flatMap((name) => needs[name].actions), ...OPERATOR_ONLY_ACTIONS])].sort()).toEqual(everyAdapterAction());
  });

  it.each(FUNCTIONS)('grants the %s function every action its code sends', (name) => {
    const statements = statementsOf(packaged.template, handlers[name]);
    const missing = needs[name].actions.filter((action) => grantsOf(statements, action).length === 0);
    expect({ function: name, missing }).toEqual({ function: name, missing: [] });
  });

  it.each(FUNCTIONS)('grants the %s function nothing its code does not send', (name) => {
    const statements = statementsOf(packaged.template, handlers[name]);
    const extra = actionsOf(statements).filter((action) => !needs[name].actions.includes(action) && !PLATFORM_ACTIONS.includes(action));
    expect({ function: name, extra }).toEqual({ function: name, extra: [] });
    expect(statements.every((s) => s.Effect === 'Allow' && !asList(s.Action).some((a) => a.includes('*')))).toBe(true);
  });

  it.each(FUNCTIONS)('never grants the %s function a mutating action on Resource "*"', (name) => {
    const statements = statementsOf(packaged.template, handlers[name]);
    const onAnything = statements.filter((s) => asList(s.Resource).includes('*'));
    const mutating = actionsOf(onAnything).filter((action) => !READ_ONLY.test(action) && !NO_RESOURCE_TYPES.includes(action));
    expect(mutating).toEqual([]);
    // each of those alone in its statement: "*" never widens another action
    for (const action of NO_RESOURCE_TYPES) for (const grant of grantsOf(statements, action)) expect(asList(grant.Action)).toEqual([action]);
  });

  it('scopes SendCommand to warren documents and to instances carrying the cluster tag', () => {
    for (const name of FUNCTIONS.filter((n) => needs[n].actions.includes('ssm:SendCommand'))) {
      const grants = grantsOf(statementsOf(packaged.template, handlers[name]), 'ssm:SendCommand');
      expect(grants.length).toBeGreaterThan(0);
      for (const grant of grants) {
        const resource = resourceText(grant);
        if (resource.includes(':document/')) expect(resource).toMatch(/:document\/warren-[A-Za-z*]+/);
        else {
          expect(resource).toContain(':instance/*');
          expect(grant.Condition?.StringEquals).toEqual({ 'ssm:resourceTag/warren:cluster': 'warren-demo' });
        }
      }
    }
  });

  it('lets the triage function read EC2 and send to the heal queue, and nothing else', () => {
    expect(needs.triage.kinds).toEqual([]);
    expect(needs.triage.byPortCall).toEqual({ 'HealQueue.forward': ['sqs:SendMessage'], 'Inventory.groupMembersAmong': ['ec2:DescribeInstances'] });
    const statements = statementsOf(packaged.template, handlers.triage);
    expect(grantsOf(statements, 'sqs:SendMessage').map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['HealQueue', 'Arn'] }]);
    expect(grantsOf(statements, 'sqs:ReceiveMessage').map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['TriageQueue', 'Arn'] }]);
  });

  it('scopes lifecycle actions and instance health to the cluster group, targets to its two groups', () => {
    const heal = statementsOf(packaged.template, handlers.heal);
    const groupArn = /autoScalingGroup:\*:autoScalingGroupName\/warren-demo-asg"/;
    for (const grant of [
      ...grantsOf(heal, 'autoscaling:CompleteLifecycleAction'),
      ...grantsOf(heal, 'autoscaling:RecordLifecycleActionHeartbeat'),
      ...grantsOf(heal, 'autoscaling:SetInstanceHealth'),
    ]) {
      expect(resourceText(grant)).toMatch(groupArn);
    }
    for (const grant of grantsOf(heal, 'elasticloadbalancing:RegisterTargets')) {
      expect(asList(grant.Resource)).toEqual([expect.stringContaining('targetgroup/warren-amqp/'), expect.stringContaining('targetgroup/warren-mgmt/')]);
    }
    for (const grant of grantsOf(heal, 'ec2:CreateTags')) {
      expect(grant.Condition?.StringEquals).toEqual({ 'aws:ResourceTag/warren:cluster': 'warren-demo' });
      expect(grant.Condition?.['ForAllValues:StringEquals']).toEqual({ 'aws:TagKeys': [NODE_NAME_TAG, RABBITMQ_VERSION_TAG] });
    }
  });
});
