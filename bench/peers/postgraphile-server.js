// PostGraphile v4 (pinned by package-lock.json) serving the seeded inbox-graph PostgreSQL
// database, as a user would deploy it instead: one Node process, the library's production
// options (no query log, no schema watching, no GraphiQL). bench/peers starts it and sends it
// the same inbox list as inbox-graph, from the same clients.
//
//     node postgraphile-server.js <port> <database url> [rls]
//
// The computed columns and functions it needs (postgraphile.sql: Contact.name,
// Conversation.lastMessage, Conversation.timeline, the sidebar's Query fields, the contact
// panel's phone, channels and merge suggestions) are created by bench/peers before this starts.
// With "rls", every request runs as the role inbox_peer_rls (rls.sql: a policy on workspace_id
// on every table of the screens) with jwt.claims.workspace_id taken from the request's
// X-Workspace-Id header, as a deployment that keeps tenants apart in PostgreSQL does (a JWT's
// claim would arrive the same way: PostGraphile sets it per transaction).
"use strict";

const http = require("http");
const { postgraphile } = require("postgraphile");

const [port, databaseUrl, mode] = process.argv.slice(2);
const rls = mode === "rls";

const middleware = postgraphile(databaseUrl, "public", {
  disableDefaultMutations: true,
  disableQueryLog: true,
  watchPg: false,
  graphiql: false,
  ignoreRBAC: true,
  setofFunctionsContainNulls: false,
  retryOnInitFail: false,
  extendedErrors: ["hint", "detail", "errcode"],
  ...(rls && {
    pgSettings: (req) => ({
      role: "inbox_peer_rls",
      "jwt.claims.workspace_id": String(req.headers["x-workspace-id"] || ""),
    }),
  }),
});

http.createServer(middleware).listen(Number(port), "127.0.0.1", () => {
  console.log(`postgraphile${rls ? " (rls)" : ""} listening on 127.0.0.1:${port}`);
});
