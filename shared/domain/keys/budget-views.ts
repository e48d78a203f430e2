/**
 * Key metadata with its budget (SPEC §5b, §6): the budget items the keys of one answer name,
 * read in one strongly consistent batch (none when no key has a budget, so plain keys cost no
 * read), then the views built from them. A key and its rotated successor name one budget item,
 * read once.
 */
import type { BudgetItem } from '../budgets/model.js';
import type { BudgetStore } from '../budgets/ports.js';
import type { LogSink } from '../ports.js';
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import type { ApiKeyItem } from './model.js';

/** The budget item each key names, found by the key (undefined: no budget, or a missing item). */
export type BudgetsOfKeys = (item: ApiKeyItem) => BudgetItem | undefined;

export type DescribeKeys = (items: readonly ApiKeyItem[], now: Date) => Promise<KeyMetadata[]>;

export function createBudgetViews(options: { budgets: Pick<BudgetStore, 'findMany'>; logger: LogSink }) {
  const { budgets, logger } = options;

  async function budgetsOf(items: readonly ApiKeyItem[]): Promise<BudgetsOfKeys> {
    const ids = [...new Set(items.flatMap((item) => (item.budget_id ? [item.budget_id] : [])))];
    const found = new Map<string, BudgetItem>();
    if (ids.length > 0) {
      for (const budget of await budgets.findMany(ids)) found.set(budget.budget_id, budget);
      for (const item of items) {
        // Written with the key or before it names it, never deleted: a broken reference to report.
        if (item.budget_id && !found.has(item.budget_id))
          logger.warn('key names a missing budget', { key_id: item.key_id, budget_id: item.budget_id });
      }
    }
    return (item) => (item.budget_id ? found.get(item.budget_id) : undefined);
  }

  const describe: DescribeKeys = async (items, now) => {
    const budgetOf = await budgetsOf(items);
    return items.map((item) => toKeyMetadata(item, now, budgetOf(item)));
  };

  return { budgetsOf, describe };
}

export type BudgetViews = ReturnType<typeof createBudgetViews>;
