// The graphql-ws client (graphql-transport-ws) against the served app. Arguments: the
// WebSocket URL and a bearer token. Prints, as JSON on its last line, what the client saw:
// the close of a connection_init with "payload": null, and for each operation the codes of
// the errors its `error` sink received, or the results its `next` sink received.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);

function run(client, payload) {
  return new Promise((resolve) => {
    const results = [];
    client.subscribe(payload, {
      next: (result) => results.push({ data: result.data }),
      error: (error) =>
        resolve(
          Array.isArray(error)
            ? { error: error.map((e) => e.extensions?.code ?? null) }
            : { closed: error.code, reason: error.reason },
        ),
      complete: () => resolve({ next: results }),
    });
  });
}

const outcome = {};

// "payload": null: the protocol's, authenticated like an empty payload (no token: 4403).
// graphql-ws leaves out a falsy payload; its jsonMessageReplacer writes it as null, as other
// clients do, and the socket records what was sent.
const sent = [];
class RecordingWebSocket extends WebSocket {
  send(data) {
    sent.push(JSON.parse(data));
    super.send(data);
  }
}
let closed;
const anonymous = createClient({
  url,
  webSocketImpl: RecordingWebSocket,
  connectionParams: null,
  jsonMessageReplacer: (key, value) =>
    key === '' && value.type === 'connection_init' ? { ...value, payload: null } : value,
  retryAttempts: 0,
  on: { closed: (event) => (closed = { code: event.code, reason: event.reason }) },
});
await run(anonymous, { query: '{ __typename }' });
outcome.nullPayload = { sent: sent[0], ...closed };
await anonymous.dispose();

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
outcome.parse = await run(client, { query: '{' });
outcome.unknownOperation = await run(client, {
  query: 'query A { __typename }',
  operationName: 'B',
});
outcome.validation = await run(client, { query: '{ nope }' });
outcome.afterwards = await run(client, { query: '{ __typename }' });
await client.dispose();

console.log(JSON.stringify(outcome));
