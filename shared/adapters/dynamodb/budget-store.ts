/**
 * Spend budgets on their own table (SPEC §5b; the states of a hold: docs/decisions/0010).
 * Every write is one conditional UpdateItem whose condition names the hold it moves, so an
 * SDK retry of a write that was applied but answered late finds its own effect and fails
 * the condition instead of applying twice; the domain reads the outcome from the item the
 * refused write returns. A hold (or its extension) whose outcome is unknown is sent again
 * (docs/decisions/0011): a re-send refused because the hold is open hands the ledger the
 * item with its own hold in it.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { BudgetItem } from '../../domain/budgets/model.js';
import type {
  BudgetReconfiguration,
  BudgetStore,
  BudgetWrite,
  ExpiredHold,
  HoldPlan,
  Settlement,
} from '../../domain/budgets/ports.js';
import { outcomeUnknown } from './write-retries.js';

/** BatchGetItem reads at most 100 keys per call. */
const BATCH_GET_LIMIT = 100;
/** Sends of a hold write while its outcome is unknown (as the idempotency claim's). */
const HOLD_SENDS = 3;

/** Not blocked in the period being held in (an overspend or foreign payment blocks its period). */
const NOT_BLOCKED = '(attribute_not_exists(blocked_period) OR blocked_period <> :ps)';

/** The hold write of a plan (exported for the bench, which measures exactly this call). */
export function holdInput(tableName: string, plan: HoldPlan): UpdateCommandInput {
  const values: Record<string, unknown> = {
    ':period': plan.period,
    ':ps': plan.periodStart,
    ':amt': plan.amount,
    ':neg': -plan.amount,
    ':entry': { a: plan.amount, u: plan.until },
  };
  const common =
    'attribute_exists(budget_id) AND budget_period = :period AND per_call_hold = :amt AND attribute_not_exists(holds.#r)';
  let condition: string;
  let update: string;
  if (plan.fresh) {
    // A new period: spent restarts at 0, the holds still open are carried (they are in
    // `unheld` already), and the new period's remaining is what is not held minus this hold.
    values[':zero'] = 0;
    condition = `${common} AND period_start < :ps AND unheld >= :amt`;
    update =
      'SET period_start = :ps, spent = :zero, remaining = unheld - :amt, holds.#r = :entry REMOVE blocked_period ADD unheld :neg, held :amt';
  } else {
    condition = `${common} AND period_start = :ps AND remaining >= :amt AND ${NOT_BLOCKED}`;
    update = 'SET holds.#r = :entry ADD remaining :neg, unheld :neg, held :amt';
  }
  return {
    TableName: tableName,
    Key: { budget_id: plan.budgetId },
    ConditionExpression: condition,
    UpdateExpression: update,
    ExpressionAttributeNames: { '#r': plan.requestId },
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

export class DynamoBudgetStore implements BudgetStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  private async update(input: UpdateCommandInput): Promise<BudgetWrite> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          ...input,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { ok: true, item: Attributes as BudgetItem };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // The document client does not unmarshall the item a failed condition returns.
        return { ok: false, current: error.Item ? (unmarshall(error.Item) as BudgetItem) : undefined };
      }
      throw error;
    }
  }

  async create(item: BudgetItem): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(budget_id)',
      }),
    );
  }

  async find(budgetId: string): Promise<BudgetItem | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { budget_id: budgetId }, ConsistentRead: true }),
    );
    return Item as BudgetItem | undefined;
  }

  async findMany(budgetIds: readonly string[]): Promise<BudgetItem[]> {
    const unique = [...new Set(budgetIds)];
    const found: BudgetItem[] = [];
    for (let start = 0; start < unique.length; start += BATCH_GET_LIMIT) {
      let keys: Record<string, unknown>[] = unique
        .slice(start, start + BATCH_GET_LIMIT)
        .map((budgetId) => ({ budget_id: budgetId }));
      for (let round = 0; keys.length > 0; round += 1) {
        const answer = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        found.push(...((answer.Responses?.[this.tableName] ?? []) as BudgetItem[]));
        keys = (answer.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
        if (keys.length > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** round)));
      }
    }
    return found;
  }

  /** A write that recognises its own first outcome, sent again while that outcome is unknown. */
  private async resend(input: UpdateCommandInput): Promise<BudgetWrite> {
    for (let send = 1; ; send += 1) {
      try {
        return await this.update(input);
      } catch (error) {
        if (send >= HOLD_SENDS || !outcomeUnknown(error)) throw error;
      }
    }
  }

  hold(plan: HoldPlan): Promise<BudgetWrite> {
    return this.resend(holdInput(this.tableName, plan));
  }

  extendHold(budgetId: string, requestId: string, until: number): Promise<BudgetWrite> {
    return this.resend({
      TableName: this.tableName,
      Key: { budget_id: budgetId },
      ConditionExpression: 'attribute_exists(holds.#r)',
      UpdateExpression: 'SET holds.#r.u = :until',
      ExpressionAttributeNames: { '#r': requestId },
      ExpressionAttributeValues: { ':until': until },
    });
  }

  settle(settlement: Settlement): Promise<BudgetWrite> {
    const names: Record<string, string> = { '#r': settlement.requestId };
    const values: Record<string, unknown> = {
      ':held': settlement.held,
      ':negHeld': -settlement.held,
      ':paid': settlement.paid,
      ':back': settlement.held - settlement.paid,
    };
    const sets: string[] = [];
    const adds = ['spent :paid', 'remaining :back', 'unheld :held', 'held :negHeld'];
    if (settlement.block) sets.push('blocked_period = period_start');
    if (settlement.paid > settlement.held) {
      values[':over'] = settlement.paid - settlement.held;
      adds.push('overspent :over');
    }
    if (settlement.foreign) {
      names['#cur'] = settlement.foreign.currency;
      values[':foreign'] = settlement.foreign.amount;
      values[':zero'] = 0;
      sets.push('foreign_paid.#cur = if_not_exists(foreign_paid.#cur, :zero) + :foreign');
    }
    return this.update({
      TableName: this.tableName,
      Key: { budget_id: settlement.budgetId },
      // Only an open hold of exactly this amount: a settlement applied once cannot apply again.
      ConditionExpression: 'holds.#r.a = :held',
      UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}REMOVE holds.#r ADD ${adds.join(', ')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  releaseExpired(budgetId: string, holds: readonly ExpiredHold[]): Promise<BudgetWrite> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const conditions: string[] = [];
    const removes: string[] = [];
    let total = 0;
    holds.forEach((hold, index) => {
      names[`#h${index}`] = hold.requestId;
      values[`:a${index}`] = hold.amount;
      values[`:u${index}`] = hold.until;
      // Exactly as seen: a hold extended meanwhile (a repeat now running) is not released.
      conditions.push(`holds.#h${index}.a = :a${index} AND holds.#h${index}.u = :u${index}`);
      removes.push(`holds.#h${index}`);
      total += hold.amount;
    });
    values[':total'] = total;
    values[':negTotal'] = -total;
    return this.update({
      TableName: this.tableName,
      Key: { budget_id: budgetId },
      ConditionExpression: conditions.join(' AND '),
      UpdateExpression: `REMOVE ${removes.join(', ')} ADD remaining :total, unheld :total, held :negTotal`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  reconfigure(change: BudgetReconfiguration): Promise<BudgetWrite> {
    const { expected, next } = change;
    const values: Record<string, unknown> = {
      ':oldLimit': expected.limit,
      ':oldPeriod': expected.period,
      ':oldHold': expected.hold,
      ':limit': next.limit,
      ':period': next.period,
      ':hold': next.hold,
    };
    let update: string;
    if (change.periodStart !== undefined) {
      // Another period: counting restarts (spent 0); the holds still open stay held.
      values[':ps'] = change.periodStart;
      values[':zero'] = 0;
      update =
        'SET budget_limit = :limit, budget_period = :period, per_call_hold = :hold, period_start = :ps, spent = :zero, remaining = :limit - held, unheld = :limit - held REMOVE blocked_period';
    } else {
      delete values[':period'];
      values[':delta'] = next.limit - expected.limit;
      update =
        'SET budget_limit = :limit, per_call_hold = :hold REMOVE blocked_period ADD remaining :delta, unheld :delta';
    }
    return this.update({
      TableName: this.tableName,
      Key: { budget_id: change.budgetId },
      ConditionExpression:
        'budget_limit = :oldLimit AND budget_period = :oldPeriod AND per_call_hold = :oldHold',
      UpdateExpression: update,
      ExpressionAttributeValues: values,
    });
  }
}
