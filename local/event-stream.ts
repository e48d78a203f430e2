/**
 * InvokeWithResponseStream's answer framing (application/vnd.amazon.eventstream), written with
 * the AWS SDK's own codec so the SDK and the AWS CLI read it as they read Lambda's: each piece
 * the function writes is a `PayloadChunk` event, and one `InvokeComplete` event ends the stream
 * (with ErrorCode and ErrorDetails when the function failed).
 */
import { EventStreamCodec, type Message } from '@smithy/core/event-streams';

export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const codec = new EventStreamCodec(
  (bytes) => decoder.decode(bytes),
  (text) => encoder.encode(text),
);

/** The fields of Lambda's InvokeWithResponseStreamCompleteEvent. */
export interface InvokeComplete {
  ErrorCode?: string;
  ErrorDetails?: string;
  LogResult?: string;
}

function event(eventType: string, contentType: string, body: Uint8Array): Uint8Array {
  const message: Message = {
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: contentType },
      ':message-type': { type: 'string', value: 'event' },
    },
    body,
  };
  return codec.encode(message);
}

export function payloadChunkMessage(bytes: Uint8Array): Uint8Array {
  return event('PayloadChunk', 'application/octet-stream', bytes);
}

export function invokeCompleteMessage(complete: InvokeComplete): Uint8Array {
  return event('InvokeComplete', 'application/json', encoder.encode(JSON.stringify(complete)));
}

/** Reads framed messages back (for tests and tools): each with its event type and body. */
export function decodeEventStream(bytes: Uint8Array): Array<{ eventType: string; body: Uint8Array }> {
  const messages: Array<{ eventType: string; body: Uint8Array }> = [];
  let offset = 0;
  while (offset + 4 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0, false);
    const message = codec.decode(bytes.subarray(offset, offset + length));
    const type = message.headers[':event-type'];
    messages.push({ eventType: type?.type === 'string' ? type.value : '', body: message.body });
    offset += length;
  }
  return messages;
}
