// Runs graphql-http's server audits (the GraphQL over HTTP spec's conformance suite) against
// the GraphQL endpoint given as the first argument. Prints, as JSON on its last line, one
// entry per audit: {id, name, status, reason?, status code and body of the failing response}.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    try {
      entry.responseStatus = result.response.status;
      entry.responseType = result.response.headers.get('content-type');
      entry.responseBody = (await result.response.text()).slice(0, 500);
    } catch {
      // the body was read by the audit already
    }
  }
  results.push(entry);
}
console.log(JSON.stringify(results));
