// urql (@urql/core, its default exchanges: the document cache and fetch; graphql-ws for
// subscriptions, as urql's documentation sets it up) against the served app. urql sends a
// query as GET while its URL stays under 2,048 characters (`preferGetMethod:
// "within-url-limit"`, its default), a mutation as POST, adds `__typename` to every selection
// set, and accepts `text/event-stream` and `multipart/mixed` besides JSON.
//
// node urql-screens.mjs '{"url": "http://…/graphql", "wsUrl": "ws://…/graphql", "token": "…",
//   "documents": {"SIDEBAR": "…", "LIST": "…", "TIMELINE": "…"}}'
// prints, as JSON on its last line: the HTTP method and Accept header of each request, the
// data (or error codes) of the sidebar, the inbox list, a conversation's timeline, a
// malformed node id, a sendMessage, and the newMessage event the subscription received.
import { Client, cacheExchange, fetchExchange, subscriptionExchange, gql } from "@urql/core";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const { url, wsUrl, token, documents } = JSON.parse(process.argv[2]);
// the three screens, as the test reads them with its own client: the sidebar, the inbox list
// (variable `first`) and a conversation's timeline (variable `id`)
const { SIDEBAR, LIST, TIMELINE } = documents;

const SEND = `mutation Send($c: ID!, $t: String!) {
  sendMessage(input: {contactId: $c, text: $t}) { message { id text } conversation { id } }
}`;
const NEW_MESSAGE = "subscription { newMessage(inbox: {standard: ALL}) { message { id text } conversation { id } } }";

const requests = [];
function recordingFetch(input, init) {
  const headers = new Headers(init?.headers);
  requests.push({ method: init?.method ?? "GET", accept: headers.get("accept") });
  return fetch(input, init);
}

// the server has registered a subscription once a ping sent after its `subscribe` frame is
// answered (frames are handled in order): the socket notes what it sends
let subscribeSent = false;
let pingedSince = false;
class NotingWebSocket extends WebSocket {
  send(data) {
    const type = JSON.parse(data).type;
    if (type === "subscribe") subscribeSent = true;
    else if (type === "ping" && subscribeSent) pingedSince = true;
    super.send(data);
  }
}
const ws = createClient({
  url: wsUrl,
  webSocketImpl: NotingWebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  keepAlive: 50, // ms between pings
});
const client = new Client({
  url,
  fetch: recordingFetch,
  fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  requestPolicy: "network-only",
  exchanges: [
    cacheExchange,
    fetchExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || "" };
        return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
      },
    }),
  ],
});

function outcome(result) {
  if (result.error) {
    return { errors: result.error.graphQLErrors.map((e) => e.extensions?.code ?? null), network: result.error.networkError?.message ?? null };
  }
  return { data: result.data };
}

const printed = {};
printed.sidebar = outcome(await client.query(gql(SIDEBAR), {}).toPromise());
printed.list = outcome(await client.query(gql(LIST), { first: 5 }).toPromise());
const first = printed.list.data.conversations.edges[0].node;
printed.timeline = outcome(await client.query(gql(TIMELINE), { id: first.id }).toPromise());
printed.malformed = outcome(await client.query(gql(TIMELINE), { id: "not an id" }).toPromise());

const received = new Promise((resolve) => {
  const subscription = client.subscription(gql(NEW_MESSAGE), {}).subscribe((result) => {
    subscription.unsubscribe();
    resolve(outcome(result));
  });
});
await new Promise((resolve) => {
  const off = ws.on("pong", () => {
    if (pingedSince) {
      off();
      resolve();
    }
  });
});
printed.sent = outcome(
  await client.mutation(gql(SEND), { c: first.contact.id, t: "Sent by urql" }).toPromise(),
);
printed.event = await Promise.race([
  received,
  new Promise((resolve) => setTimeout(() => resolve({ timeout: true }), 10000)),
]);
printed.requests = requests;
await ws.dispose();
console.log(JSON.stringify(printed));
process.exit(0);
