// PostGraphile v4 (pinned by package-lock.json) serving the seeded inbox-graph PostgreSQL
// database, as a user would deploy it instead: one Node process, the library's production
// options (no query log, no schema watching, no GraphiQL). bench/peers starts it and sends it
// the same inbox list as inbox-graph, from the same clients.
//
//     node postgraphile-server.js <port> <database url>
//
// The two computed columns it needs (contact_name, conversation_last_message) are created by
// bench/peers (COMPUTED_COLUMNS) before this starts; PostGraphile exposes them as
// Contact.name and Conversation.lastMessage.
"use strict";

const http = require("http");
const { postgraphile } = require("postgraphile");

const [port, databaseUrl] = process.argv.slice(2);

const middleware = postgraphile(databaseUrl, "public", {
  disableDefaultMutations: true,
  disableQueryLog: true,
  watchPg: false,
  graphiql: false,
  ignoreRBAC: true,
  setofFunctionsContainNulls: false,
  retryOnInitFail: false,
  extendedErrors: ["hint", "detail", "errcode"],
});

http.createServer(middleware).listen(Number(port), "127.0.0.1", () => {
  console.log(`postgraphile listening on 127.0.0.1:${port}`);
});
