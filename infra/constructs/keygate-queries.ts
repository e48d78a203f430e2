/**
 * The stage's saved CloudWatch Logs Insights queries (infra/log-queries.ts), one
 * `AWS::Logs::QueryDefinition` each, in the console folder `keygate-<stage>/`, each bound to
 * the log groups it reads. The lookup queries take their value as a query parameter.
 */
import type * as logs from 'aws-cdk-lib/aws-logs';
import { CfnQueryDefinition } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionName } from '../functions.js';
import { type LogSource, queryStringOf, SAVED_QUERIES, savedQueryName } from '../log-queries.js';
import type { StageConfig } from '../stages.js';

/** The stage's log groups: the API's access log and each function's. */
export interface StageLogGroups {
  accessLog: logs.ILogGroup;
  functions: Partial<Record<FunctionName, logs.ILogGroup>>;
}

/** The names of the log groups a query reads (the saved queries here, the dashboard's tables). */
export function logGroupNamesOf(sources: readonly LogSource[], groups: StageLogGroups): string[] {
  return sources.map((source) => {
    if (source === 'access-log') return groups.accessLog.logGroupName;
    const group = groups.functions[source];
    if (!group) throw new Error(`a query reads ${source}'s log group, but the stack has no ${source}`);
    return group.logGroupName;
  });
}

export interface KeygateQueriesProps {
  config: Pick<StageConfig, 'stage'>;
  logGroups: StageLogGroups;
}

export class KeygateQueries extends Construct {
  readonly definitions: CfnQueryDefinition[];

  constructor(scope: Construct, id: string, props: KeygateQueriesProps) {
    super(scope, id);
    this.definitions = SAVED_QUERIES.map(
      (query) =>
        new CfnQueryDefinition(this, query.id, {
          name: savedQueryName(props.config.stage, query),
          queryLanguage: 'CWLI',
          queryString: queryStringOf(query),
          logGroupNames: logGroupNamesOf(query.sources, props.logGroups),
          ...('lookup' in query
            ? { parameters: [{ name: query.lookup.name, description: query.lookup.description }] }
            : {}),
        }),
    );
  }
}
