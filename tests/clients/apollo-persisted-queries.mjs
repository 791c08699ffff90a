// Apollo Client's persisted-query link against the served app (issue 19, part 4).
//
// Usage: node apollo-persisted-queries.mjs URL TOKEN NAME GET|POST
//
// Runs the query `query <NAME> { me { id } }` twice, each time on a fresh Apollo Client (no
// cache) with createPersistedQueryLink (sha256 from node:crypto) in front of an HttpLink, and
// records every request the link chain sent (a custom fetch). Prints one JSON line:
// {"runs": [{"data", "errors", "requests": [{"method", "query", "hash"}]}]}.
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, token, name, method] = process.argv.slice(2);
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

async function run() {
  const requests = [];
  const recordingFetch = async (input, init = {}) => {
    const target = new URL(typeof input === "string" ? input : input.url);
    let body = {};
    if (init.body) body = JSON.parse(init.body);
    else {
      body.query = target.searchParams.get("query");
      const extensions = target.searchParams.get("extensions");
      body.extensions = extensions ? JSON.parse(extensions) : undefined;
    }
    requests.push({
      method: init.method || "GET",
      query: body.query ?? null,
      hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    });
    return fetch(input, init);
  };
  const link = createPersistedQueryLink({
    sha256,
    useGETForHashedQueries: method === "GET",
  }).concat(
    new HttpLink({
      uri: url,
      fetch: recordingFetch,
      headers: { authorization: `Bearer ${token}` },
    }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  try {
    const result = await client.query({
      query: gql(`query ${name} { me { id } }`),
      fetchPolicy: "no-cache",
    });
    return { data: result.data ?? null, errors: result.error?.message ?? null, requests };
  } catch (error) {
    return { data: null, errors: String(error?.message ?? error), requests };
  }
}

const runs = [await run(), await run()];
console.log(JSON.stringify({ runs }));
