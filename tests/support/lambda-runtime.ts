/**
 * Setup file of every test worker: the Lambda Node.js runtime's `awslambda` global (response
 * streaming), which the runtime defines before it imports a handler — the local runtime's own
 * emulation of it, so handler modules load in tests as they do on Lambda.
 */
import { installAwsLambdaGlobal } from '../../local/response-streaming.js';

installAwsLambdaGlobal();
