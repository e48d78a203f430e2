/**
 * The real DynamoDB budget store behind a switch that fails chosen calls, as faulty-stores.ts
 * does for the key stores: the N-th call of a method throws a DynamoDB throttle before it
 * reaches the store (nothing written) or after the store applied it (the write went through,
 * its answer was lost: a late DynamoDB answer), or never returns (the handler died there).
 * Every call is recorded, so a test can pin the sequence of store calls it injects faults at.
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { BudgetStore } from '../../shared/domain/budgets/ports.js';

type Method = {
  [K in keyof BudgetStore]: BudgetStore[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof BudgetStore];
export type BudgetCall = `budgets.${Method}`;

export type BudgetFaultKind = 'before' | 'after' | 'hang';

export interface BudgetFault {
  call: BudgetCall;
  nth: number;
  when: BudgetFaultKind;
}

export class BudgetFaults {
  private readonly counts = new Map<BudgetCall, number>();
  private plan: BudgetFault[] = [];
  /** Every call since the last `arm`, in order. */
  readonly calls: string[] = [];
  readonly fired: BudgetFault[] = [];

  arm(...faults: BudgetFault[]): void {
    this.plan = faults;
    this.counts.clear();
    this.calls.length = 0;
    this.fired.length = 0;
  }

  async run<T>(call: BudgetCall, invoke: () => Promise<T>): Promise<T> {
    const nth = (this.counts.get(call) ?? 0) + 1;
    this.counts.set(call, nth);
    this.calls.push(`${call}#${nth}`);
    const fault = this.plan.find((candidate) => candidate.call === call && candidate.nth === nth);
    if (!fault) return invoke();
    this.fired.push(fault);
    const thrown = new ProvisionedThroughputExceededException({
      message: `injected fault: ${call} #${nth} (${fault.when})`,
      $metadata: { httpStatusCode: 400 },
    });
    switch (fault.when) {
      case 'before':
        throw thrown;
      case 'after':
        await invoke();
        throw thrown;
      case 'hang':
        return new Promise<T>(() => {});
    }
  }
}

export function faultyBudgetStore(real: BudgetStore, faults: BudgetFaults): BudgetStore {
  const via = <T>(method: Method, invoke: () => Promise<T>) => faults.run(`budgets.${method}`, invoke);
  return {
    create: (item) => via('create', () => real.create(item)),
    find: (budgetId) => via('find', () => real.find(budgetId)),
    findMany: (budgetIds) => via('findMany', () => real.findMany(budgetIds)),
    hold: (plan) => via('hold', () => real.hold(plan)),
    extendHold: (budgetId, requestId, until) =>
      via('extendHold', () => real.extendHold(budgetId, requestId, until)),
    settle: (settlement) => via('settle', () => real.settle(settlement)),
    releaseExpired: (budgetId, holds) => via('releaseExpired', () => real.releaseExpired(budgetId, holds)),
    reconfigure: (change) => via('reconfigure', () => real.reconfigure(change)),
  };
}
