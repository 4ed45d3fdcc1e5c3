// graphql-http's server audits (GraphQL over HTTP) against the URL given as the first
// argument; prints one JSON line per audit: {id, name, status, reason?, body?}.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.httpStatus = result.response.status;
    line.contentType = result.response.headers.get('content-type');
    line.body = (await result.response.text()).slice(0, 500);
  }
  console.log(JSON.stringify(line));
}
