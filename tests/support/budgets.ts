/** Budget items and a ledger on DynamoDB Local for the budget tests. */
import { randomUUID } from 'node:crypto';
import { DynamoBudgetStore } from '../../shared/adapters/dynamodb/budget-store.js';
import { type BudgetTelemetry, createBudgetLedger } from '../../shared/domain/budgets/ledger.js';
import type { BudgetItem, BudgetPeriod, KeyBudgetRef } from '../../shared/domain/budgets/model.js';
import { type Micros, micros } from '../../shared/domain/budgets/money.js';
import type { BudgetStore } from '../../shared/domain/budgets/ports.js';
import { periodStartOf } from '../../shared/domain/keys/limits.js';
import type { TestTables } from './dynamo.js';

export interface BudgetSpec {
  limit: Micros;
  hold: Micros;
  period?: BudgetPeriod;
  now?: Date;
}

/** A fresh budget item as keys-admin creates one (nothing spent, nothing held). */
export function budgetItemOf(spec: BudgetSpec): BudgetItem {
  const period = spec.period ?? 'day';
  const now = spec.now ?? new Date();
  return {
    budget_id: `bud_${randomUUID().replaceAll('-', '')}`,
    user_id: 'budget-user',
    key_id: 'key_budgettest',
    budget_limit: spec.limit,
    budget_period: period,
    per_call_hold: spec.hold,
    period_start: periodStartOf(now, period),
    spent: 0,
    held: 0,
    unheld: spec.limit,
    remaining: spec.limit,
    holds: {},
    foreign_paid: {},
    created_at: now.toISOString(),
  };
}

export const refOf = (item: BudgetItem): KeyBudgetRef => ({
  budgetId: item.budget_id,
  limit: item.budget_limit,
  period: item.budget_period,
  hold: item.per_call_hold,
});

/** Counts what the ledger reports, so tests can assert on metrics without Powertools. */
export function recordingTelemetry() {
  const seen = { refused: 0, settled: 0, overspent: 0, foreign: 0, failed: 0, paid: micros(0) };
  const telemetry: BudgetTelemetry = {
    refused: () => {
      seen.refused += 1;
    },
    settled: (paid) => {
      seen.settled += 1;
      seen.paid = micros(seen.paid + paid);
    },
    overspent: () => {
      seen.overspent += 1;
    },
    foreignCurrency: () => {
      seen.foreign += 1;
    },
    settlementFailed: () => {
      seen.failed += 1;
    },
  };
  return { seen, telemetry };
}

export const silentLogger = { info() {}, warn() {}, error() {} };

export function budgetStoreOn(tables: TestTables): DynamoBudgetStore {
  return new DynamoBudgetStore(tables.doc, tables.names.budgets);
}

export function ledgerOn(
  store: BudgetStore,
  options: { clock?: () => number; telemetry?: BudgetTelemetry } = {},
) {
  return createBudgetLedger({
    store,
    logger: silentLogger,
    telemetry: options.telemetry ?? recordingTelemetry().telemetry,
    settleRetryDelaysMs: [1, 1, 1],
    ...(options.clock ? { clock: options.clock } : {}),
  });
}
