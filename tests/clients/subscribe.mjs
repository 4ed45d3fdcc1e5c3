// One subscription with the standard client, graphql-ws over the `ws` package, as a Node
// application would write it. Prints one JSON document: every result, in order; how the
// frames came (text or binary) and the extensions the socket negotiated.
//   node subscribe.mjs <ws url> <authorization> <query> <variables as JSON>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, authorization, query, variables] = process.argv.slice(2);
const frames = { text: 0, binary: 0 };
let extensions = "";

class CountingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("open", () => { extensions = this.extensions; });
    this.on("message", (_, isBinary) => { frames[isBinary ? "binary" : "text"] += 1; });
  }
}

const client = createClient({
  url,
  webSocketImpl: CountingWebSocket,
  connectionParams: { authorization },
  retryAttempts: 0,
  lazy: true,
});
const results = [];
let error = null;
try {
  for await (const result of client.iterate({ query, variables: JSON.parse(variables) })) {
    results.push(result);
  }
} catch (caught) {
  // graphql-ws rejects with a CloseEvent, an Error, or the GraphQL errors of the operation.
  error = caught instanceof Error ? caught.message : JSON.stringify(caught, ["code", "reason", "message"]);
} finally {
  await client.dispose();
}
process.stdout.write(JSON.stringify({ results, frames, extensions, error }) + "\n");
