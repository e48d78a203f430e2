/**
 * A key's scopes and project binding (SPEC §5): what a request may ask for with it. Checked
 * after the body is valid and before idempotency and the brain; every field outside the
 * key's grant is named, so the caller sees all it must change.
 */
import type { KeyScopes } from './model.js';

export interface KeyGrant {
  projectId: string;
  /** Created with an explicit project: a body naming another one is refused. */
  projectBound: boolean;
  scopes?: KeyScopes;
}

export interface ScopedRequest {
  provider: string;
  model: string;
  operation_type: string;
  project_id?: string;
}

export interface ScopeViolation {
  path: 'provider' | 'model' | 'operation_type' | 'project_id';
  message: string;
}

/** Exact, or a prefix when the entry ends in `*` (`gpt-4o*` allows `gpt-4o-mini`). */
export function modelAllowed(model: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) =>
    entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : model === entry,
  );
}

const listed = (values: readonly string[]) => values.map((value) => `"${value}"`).join(', ');

export function scopeViolations(grant: KeyGrant, request: ScopedRequest): ScopeViolation[] {
  const violations: ScopeViolation[] = [];
  const { providers, models, operations } = grant.scopes ?? {};
  if (providers && !providers.includes(request.provider)) {
    violations.push({
      path: 'provider',
      message: `This API key may only use providers ${listed(providers)}.`,
    });
  }
  if (models && !modelAllowed(request.model, models)) {
    violations.push({ path: 'model', message: `This API key may only use models ${listed(models)}.` });
  }
  if (operations && !operations.includes(request.operation_type)) {
    violations.push({
      path: 'operation_type',
      message: `This API key may only use operation types ${listed(operations)}.`,
    });
  }
  if (grant.projectBound && request.project_id !== undefined && request.project_id !== grant.projectId) {
    violations.push({
      path: 'project_id',
      message: `This API key is bound to project "${grant.projectId}"; omit project_id or send that one.`,
    });
  }
  return violations;
}
