/**
 * The authorizer context of a request, decoded once: the guards (the limit refusal), the edge
 * (the caller's grant) and the limit headers (after the handler and after errors) all read it,
 * so the decoded admission is kept beside its event, as budget-status.ts keeps the budget numbers.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { admissionFromContext } from '../../shared/domain/keys/admission.js';

export type EventAdmission = ReturnType<typeof admissionFromContext>;

const admissions = new WeakMap<APIGatewayProxyEvent, EventAdmission>();

/** The event's admission, decoded on first use (an event without a context grants nothing). */
export function admissionOfEvent(event: APIGatewayProxyEvent): EventAdmission {
  const known = admissions.get(event);
  if (known) return known;
  const admission = admissionFromContext(event.requestContext?.authorizer ?? {});
  admissions.set(event, admission);
  return admission;
}
