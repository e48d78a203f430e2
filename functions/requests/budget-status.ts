/**
 * The budget numbers each request's own budget writes returned (SPEC §3: `X-Budget-*` come
 * from the writes the call made), kept beside its event until the limitHeaders middleware,
 * which runs after the handler and after errors, stamps them on the answer.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { BudgetStatus } from '../../shared/domain/budgets/state.js';

const budgetStatuses = new WeakMap<APIGatewayProxyEvent, BudgetStatus>();

export function rememberBudgetStatus(event: APIGatewayProxyEvent, status: BudgetStatus): void {
  budgetStatuses.set(event, status);
}

export const budgetStatusOfEvent = (event: APIGatewayProxyEvent): BudgetStatus | undefined =>
  budgetStatuses.get(event);
