// The Node graphql-ws reference server: what a team would deploy instead of inbox-graph's live
// path, serving the same subscription shape to the same client harness (bench/fanout's
// subscribers, used by bench/fanout and bench/storm; bench/peers prints the ratios).
//
//     node server.mjs <port> <postgres url> <redis url> <channel namespace>
//
// - graphql-ws on ws (pinned by package-lock.json), graphql-js executing every subscriber's
//   selection for every event (graphql-ws's per-subscriber execution: no shared result);
// - connection_init's {"authorization": "Bearer <token>"} checked against inbox-graph's
//   access_token table (SHA-256 of the token, not revoked, not expired, an active user), else
//   the socket is closed with 4403 as graphql-ws does;
// - `newMessage(afterSequence: Int)`: first the workspace's `message.created` events after that
//   sequence from inbox-graph's outbox (the event table), then the live ones inbox-graph
//   publishes on its Redis channel (inbox-graph:<namespace>:workspace:<id>, one PSUBSCRIBE for
//   the process); `message { id text createdAt }` is read from the message table once per
//   event (a small per-process cache shared by the subscribers, as a DataLoader would);
// - no visibility rule beyond the workspace: the benchmarks subscribe as the workspace's owner,
//   who sees every message, so inbox-graph's rules select the same events.
// GET /healthz answers 200 once it listens.
import { createHash } from "node:crypto";
import http from "node:http";

import {
  GraphQLInt,
  GraphQLID,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  GraphQLBoolean,
} from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { Redis } from "ioredis";
import pg from "pg";
import { WebSocketServer } from "ws";

const [port, databaseUrl, redisUrl, namespace] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });

// --- events: one Redis subscription for the process, listeners per workspace ---------------
const listeners = new Map(); // workspace id -> Set of functions
const redis = new Redis(redisUrl);
const prefix = `inbox-graph:${namespace}:workspace:`;
await redis.psubscribe(`${prefix}*`);
redis.on("pmessage", (_pattern, _channel, text) => {
  const event = JSON.parse(text);
  if (event.t !== "message.created") return;
  const found = listeners.get(event.w);
  if (!found) return;
  const item = { sequence: event.s, messageId: event.p.message_id };
  for (const listener of found) listener(item);
});

async function* newMessages(workspace, after) {
  const queue = [];
  let wake = null;
  const listener = (item) => {
    queue.push(item);
    if (wake) {
      wake();
      wake = null;
    }
  };
  if (!listeners.has(workspace)) listeners.set(workspace, new Set());
  listeners.get(workspace).add(listener);
  try {
    let last = after ?? null;
    if (after != null) {
      const { rows } = await pool.query(
        "SELECT sequence, payload->>'message_id' AS message_id FROM event " +
          "WHERE workspace_id = $1 AND sequence > $2 AND type = 'message.created' ORDER BY sequence",
        [workspace, after],
      );
      for (const row of rows) {
        last = Number(row.sequence);
        yield { sequence: last, messageId: Number(row.message_id) };
      }
    }
    for (;;) {
      while (queue.length) {
        const item = queue.shift();
        if (last !== null && item.sequence <= last) continue;
        last = item.sequence;
        yield item;
      }
      await new Promise((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    const found = listeners.get(workspace);
    found.delete(listener);
    if (!found.size) listeners.delete(workspace);
  }
}

// --- rows: each message read once per process while its event is recent ---------------------
const messages = new Map(); // message id -> Promise of its row
function loadMessage(id) {
  let found = messages.get(id);
  if (!found) {
    found = pool
      .query(
        "SELECT id, text, to_json(created_at) #>> '{}' AS created_at FROM message WHERE id = $1",
        [id],
      )
      .then(({ rows }) => rows[0] ?? null);
    messages.set(id, found);
    if (messages.size > 256) messages.delete(messages.keys().next().value);
  }
  return found;
}

// --- the schema: the subscription shape bench/fanout's subscribers ask for ------------------
// inbox-graph's global ids: URL-safe base64 of "Type:pk" without padding (graph/relay.py)
const globalId = (type, pk) => Buffer.from(`${type}:${pk}`).toString("base64url");
const Message = new GraphQLObjectType({
  name: "Message",
  fields: {
    id: { type: new GraphQLNonNull(GraphQLID), resolve: (m) => globalId("Message", m.id) },
    text: { type: GraphQLString },
    createdAt: { type: new GraphQLNonNull(GraphQLString), resolve: (m) => m.created_at },
  },
});
const MessageEvent = new GraphQLObjectType({
  name: "MessageEvent",
  fields: {
    sequence: { type: new GraphQLNonNull(GraphQLInt) },
    message: { type: Message, resolve: (event) => loadMessage(event.messageId) },
  },
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: { ok: { type: GraphQLBoolean, resolve: () => true } },
  }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      newMessage: {
        type: new GraphQLNonNull(MessageEvent),
        args: { afterSequence: { type: GraphQLInt } },
        subscribe: (_root, args, viewer) => newMessages(viewer.workspace, args.afterSequence),
        resolve: (item) => item,
      },
    },
  }),
});

async function viewerOf(params) {
  const header = params?.authorization ?? "";
  const [scheme, token] = header.split(" ");
  if (scheme?.toLowerCase() !== "bearer" || !token) return null;
  const { rows } = await pool.query(
    'SELECT u.id, u.workspace_id FROM access_token t JOIN "user" u ON u.id = t.user_id ' +
      "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_active " +
      "AND (t.expires_at IS NULL OR t.expires_at > now())",
    [createHash("sha256").update(token.trim()).digest("hex")],
  );
  return rows.length ? { user: rows[0].id, workspace: rows[0].workspace_id } : null;
}

// --- serving ---------------------------------------------------------------------------------
const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "text/plain" });
  res.end(req.url === "/healthz" ? "ok" : "not found");
});
const wss = new WebSocketServer({ server, path: "/graphql" });
useServer(
  {
    schema,
    onConnect: async (ctx) => {
      const viewer = await viewerOf(ctx.connectionParams);
      if (!viewer) return false;
      ctx.extra.viewer = viewer;
      return true;
    },
    context: (ctx) => ctx.extra.viewer,
  },
  wss,
);
server.listen(Number(port), "127.0.0.1", () => {
  console.log(`graphql-ws reference listening on 127.0.0.1:${port}`);
});
