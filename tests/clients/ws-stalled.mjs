// The graphql-ws client whose first socket stops answering the server's WebSocket pings (a
// network that stalls, a laptop that sleeps, a tab the browser froze), against the served app.
// Arguments: the WebSocket URL, a bearer token, the HTTP URL and a JSON request body (an
// ingestion, sent with the token in INGEST_TOKEN) to send once the client has connected again. Prints, as JSON on its last line,
// how many times it connected, the close codes it saw, whether it gave up, and the texts of the
// messages its subscription received.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, httpUrl, body] = process.argv.slice(2);

let first = true;
class StallingWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, { autoPong: !first }); // the first one never answers a ping
    first = false;
  }
}

const outcome = { connects: 0, closes: [], gaveUp: null, texts: [] };
const done = (extra) => {
  Object.assign(outcome, extra);
  console.log(JSON.stringify(outcome));
  process.exit(0);
};
const client = createClient({
  url,
  webSocketImpl: StallingWebSocket,
  retryAttempts: 5,
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
  connectionParams: () => ({ authorization: `Bearer ${token}` }),
  on: {
    connected: () => {
      outcome.connects += 1;
      if (outcome.connects === 2) {
        fetch(httpUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${process.env.INGEST_TOKEN}`,
          },
          body,
        })
          .then((response) => response.json())
          .then((answer) => {
            if (answer.errors) done({ ingestion: answer.errors });
          });
      }
    },
    closed: (event) => outcome.closes.push(event.code),
  },
});
client.subscribe(
  { query: 'subscription { newMessage(inbox: {standard: ALL}) { message { text } } }' },
  {
    next: (result) => {
      outcome.texts.push(result.data?.newMessage?.message?.text);
      done({ gaveUp: false });
    },
    error: (error) => done({ gaveUp: error?.code ?? String(error) }),
    complete: () => done({ gaveUp: 'completed' }),
  },
);
setTimeout(() => done({ gaveUp: 'timed out' }), 40000);
