/**
 * The requests function answers through Lambda response streaming (SPEC §3b, §7): API Gateway
 * invokes it with InvokeWithResponseStream on every one of its routes (a function streams or
 * does not; docs/streaming-on-aws.md), so each answer is the HTTP prelude (status, headers),
 * then its body. A plain answer is one JSON body; a streamed chat completion is its
 * server-sent events as the brain writes them. The middy chain stays one buffered pipeline
 * (errors, limit headers) that returns the answer; this shell only writes it out.
 */
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { ChatStream } from '../../shared/domain/requests/process.js';

/** Where a streamed answer's events ride on the proxy result the middy chain passes along. */
const CHAT_STREAM = Symbol('keygate.chatStream');

type StreamingResult = APIGatewayProxyResult & { [CHAT_STREAM]?: ChatStream };

/** The answer whose body is `stream`'s events (the headers are the chain's, limits added after). */
export function streamingResult(stream: ChatStream, headers: Record<string, string>): APIGatewayProxyResult {
  // A symbol key: the middlewares that copy the result (`{...response}`) carry it along.
  const result: StreamingResult = { statusCode: 200, headers, body: '', [CHAT_STREAM]: stream };
  return result;
}

/** Lambda's Node.js runtime globals for response streaming (the local runtime installs the same). */
interface AwsLambdaStreaming {
  streamifyResponse<H>(handler: H): H;
  HttpResponseStream: {
    from(stream: Writable, prelude: { statusCode: number; headers?: Record<string, string> }): Writable;
  };
}

function lambdaRuntime(): AwsLambdaStreaming {
  const runtime = (globalThis as { awslambda?: AwsLambdaStreaming }).awslambda;
  if (!runtime)
    throw new Error('awslambda is not defined: response streaming needs the Lambda Node.js runtime');
  return runtime;
}

/** Writes one chunk; false once the client has gone (the rest is not sent, the work goes on). */
function writeTo(out: Writable, chunk: string): Promise<boolean> {
  if (out.destroyed || out.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    out.write(chunk, (error) => resolve(!error));
  });
}

/**
 * The streaming handler around `answer` (the buffered middy chain). For a streamed answer the
 * invocation ends only when the call is settled (payment counted, answer stored): Lambda
 * freezes a container when its handler returns, so nothing may be left running.
 */
export function streamingHandler(
  answer: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>,
) {
  const runtime = lambdaRuntime();
  return runtime.streamifyResponse(
    async (event: APIGatewayProxyEvent, responseStream: Writable, context: Context): Promise<void> => {
      const result = (await answer(event, context)) as StreamingResult;
      const out = runtime.HttpResponseStream.from(responseStream, {
        statusCode: result.statusCode,
        headers: Object.fromEntries(
          Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)]),
        ),
      });
      out.on('error', () => {
        // A client gone mid-stream: later writes are dropped; the call still settles below.
      });
      const stream = result[CHAT_STREAM];
      if (!stream) {
        // The prelude goes out with the first write (an end() alone would not send it).
        await writeTo(out, result.body);
        out.end();
        return;
      }
      let open = true;
      for await (const chunk of stream.stream) {
        if (open) open = await writeTo(out, chunk);
      }
      await stream.settled;
      if (!out.destroyed) out.end();
    },
  );
}
