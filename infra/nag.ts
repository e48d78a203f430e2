/**
 * cdk-nag 3: the AwsSolutions pack is a CDK policy-validation plugin, run on every synth
 * (the app) and in the tests. A finding fails synth unless acknowledged with
 * `Validations.of(construct).acknowledge({id, reason})` next to the resource it concerns;
 * docs/deploy.md lists every acknowledgment and its reason.
 */
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export function addNagChecks(scope: IConstruct): void {
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope, { verbose: true }));
}

/** Acknowledges one cdk-nag finding on a construct (and its children), with the reason. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
