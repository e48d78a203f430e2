/**
 * The DynamoDB tables, built from the one table definition module (`shared/adapters/dynamodb/tables.ts`):
 * on-demand, AWS-managed encryption, point-in-time recovery, and RETAIN + deletion
 * protection where the stage keeps its data.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import {
  type AttributeType,
  apiKeysTable,
  budgetsTable,
  idempotencyTable,
  type KeyAttribute,
  type TableDefinition,
  type TableId,
  userKeysTable,
  usersTable,
} from '../../shared/adapters/dynamodb/tables.js';

export interface KeygateTablesProps {
  retainData: boolean;
  pointInTimeRecovery: boolean;
}

const ATTRIBUTE_TYPES: Record<AttributeType, dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

const attribute = (key: KeyAttribute): dynamodb.Attribute => ({
  name: key.name,
  type: ATTRIBUTE_TYPES[key.type],
});

export class KeygateTables extends Construct {
  readonly apiKeys: dynamodb.Table;
  readonly users: dynamodb.Table;
  readonly userKeys: dynamodb.Table;
  readonly idempotency: dynamodb.Table;
  readonly budgets: dynamodb.Table;

  constructor(scope: Construct, id: string, props: KeygateTablesProps) {
    super(scope, id);
    this.apiKeys = this.build(apiKeysTable, props);
    this.users = this.build(usersTable, props);
    this.userKeys = this.build(userKeysTable, props);
    this.idempotency = this.build(idempotencyTable, props);
    this.budgets = this.build(budgetsTable, props);
  }

  byId(id: TableId): dynamodb.Table {
    switch (id) {
      case 'ApiKeys':
        return this.apiKeys;
      case 'Users':
        return this.users;
      case 'UserKeys':
        return this.userKeys;
      case 'Idempotency':
        return this.idempotency;
      case 'Budgets':
        return this.budgets;
    }
  }

  /** All of them, with the definition each was built from. */
  get all(): ReadonlyArray<{ definition: TableDefinition; table: dynamodb.Table }> {
    return [
      { definition: apiKeysTable, table: this.apiKeys },
      { definition: usersTable, table: this.users },
      { definition: userKeysTable, table: this.userKeys },
      { definition: idempotencyTable, table: this.idempotency },
      { definition: budgetsTable, table: this.budgets },
    ];
  }

  private build(definition: TableDefinition, props: KeygateTablesProps): dynamodb.Table {
    const table = new dynamodb.Table(this, definition.id, {
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery },
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      ...(definition.timeToLiveAttribute ? { timeToLiveAttribute: definition.timeToLiveAttribute } : {}),
    });
    for (const index of definition.globalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: [...index.nonKeyAttributes],
      });
    }
    return table;
  }
}
