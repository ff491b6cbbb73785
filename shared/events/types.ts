import type { LifecycleActionRef } from '../ports';

/** Every event kind warren handles, in one place (see the converters beside this file). */
export const EVENT_KINDS = ['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** A launch lifecycle action's Destination: a group with a warm pool also launches instances into the pool. */
export type LifecycleDestination = 'AutoScalingGroup' | 'WarmPool';

interface EventBase {
  /** EventBridge event id: the correlation id of every log line for this event */
  id: string;
  /** when AWS emitted the event (epoch ms) */
  time: number;
}

export type WarrenEvent =
  | (EventBase & {
      kind: 'launch';
      instanceId: string;
      action: LifecycleActionRef;
      /** where the instance goes, when the group has a warm pool; absent means into the group */
      destination?: LifecycleDestination;
    })
  | (EventBase & { kind: 'terminate'; instanceId: string; action: LifecycleActionRef })
  | (EventBase & { kind: 'gone'; instanceId: string; state: 'shutting-down' | 'terminated' })
  | (EventBase & { kind: 'interruption'; instanceId: string; reason: 'spot-interruption' | 'rebalance-recommendation' })
  | (EventBase & { kind: 'reconcile'; dryRun: boolean })
  | (EventBase & {
      kind: 'alarm';
      alarmName: string;
      state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA';
      previousState?: string;
      /** InstanceId dimension of the alarm's metric, when it has one */
      instanceId?: string;
    })
  | (EventBase & {
      kind: 'refresh-succeeded';
      /** the group whose Instance Refresh ended Successful; a workflow acts only on the managed one */
      autoScalingGroupName: string;
      instanceRefreshId: string;
    });

export type EventOf<K extends EventKind> = Extract<WarrenEvent, { kind: K }>;
