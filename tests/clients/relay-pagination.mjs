// Apollo Client's relayStylePagination against the served app (issue 19, part 3): one client
// pages a connection forwards with fetchMore({after}), another backwards from the end with
// fetchMore({before, last}); each prints the list its cache merged, for the test to compare
// with the server's whole list.
//
// node relay-pagination.mjs '{"url": "...", "token": "...", "size": 3}'
// prints {"forward": {...}, "backward": {...}} on its last line, each with the merged ids, the
// merged pageInfo, totalCount and the number of pages fetched.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

const { url, token, size } = JSON.parse(process.argv[2]);

const QUERY = gql`
  query Inbox($first: Int, $after: String, $last: Int, $before: String) {
    conversations(
      inbox: { standard: ALL }
      first: $first
      after: $after
      last: $last
      before: $before
    ) {
      totalCount
      edges {
        cursor
        node {
          id
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`;

function newClient() {
  return new ApolloClient({
    link: new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache({
      typePolicies: {
        Query: { fields: { conversations: relayStylePagination(["inbox", "status"]) } },
      },
    }),
  });
}

async function page(direction) {
  const client = newClient();
  const variables = direction === "forward" ? { first: size } : { last: size };
  const observable = client.watchQuery({ query: QUERY, variables });
  const subscription = observable.subscribe({ next() {}, error() {} });
  let { data } = await client.query({ query: QUERY, variables });
  let pages = 1;
  for (;;) {
    const info = data.conversations.pageInfo;
    const more = direction === "forward" ? info.hasNextPage : info.hasPreviousPage;
    if (!more) break;
    if (pages > 100) throw new Error("too many pages");
    const next =
      direction === "forward"
        ? { after: info.endCursor }
        : { before: info.startCursor, last: size };
    await observable.fetchMore({ variables: next });
    pages += 1;
    // what the cache merged so far (relayStylePagination's read), as a component renders it
    data = client.readQuery({ query: QUERY, variables });
    // the next cursor comes from the merged list's ends, as a UI's "load more" reads it
  }
  subscription.unsubscribe();
  const merged = client.readQuery({ query: QUERY, variables }).conversations;
  client.stop();
  return {
    ids: merged.edges.map((edge) => edge.node.id),
    pageInfo: {
      hasNextPage: merged.pageInfo.hasNextPage,
      hasPreviousPage: merged.pageInfo.hasPreviousPage,
    },
    totalCount: merged.totalCount,
    pages,
  };
}

const forward = await page("forward");
const backward = await page("backward");
console.log(JSON.stringify({ forward, backward }));
