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

export interface KeygateQueriesProps {
  config: Pick<StageConfig, 'stage'>;
  accessLogGroup: logs.ILogGroup;
  functionLogGroups: Partial<Record<FunctionName, logs.ILogGroup>>;
}

export class KeygateQueries extends Construct {
  readonly definitions: CfnQueryDefinition[];

  constructor(scope: Construct, id: string, props: KeygateQueriesProps) {
    super(scope, id);
    const logGroupOf = (source: LogSource): string => {
      if (source === 'access-log') return props.accessLogGroup.logGroupName;
      const group = props.functionLogGroups[source];
      if (!group) throw new Error(`saved query reads ${source}'s log group, but the stack has no ${source}`);
      return group.logGroupName;
    };
    this.definitions = SAVED_QUERIES.map(
      (query) =>
        new CfnQueryDefinition(this, query.id, {
          name: savedQueryName(props.config.stage, query),
          queryLanguage: 'CWLI',
          queryString: queryStringOf(query),
          logGroupNames: query.sources.map(logGroupOf),
          ...('lookup' in query
            ? { parameters: [{ name: query.lookup.name, description: query.lookup.description }] }
            : {}),
        }),
    );
  }
}
