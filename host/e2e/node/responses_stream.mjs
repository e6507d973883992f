// Streams one Responses API request through the router with the npm openai package and
// prints what the client saw as one JSON line: the event types in order, the text the
// deltas add up to, and the final response's status and usage. host/e2e's
// TestResponsesNodeClient runs it against the built router: node responses_stream.mjs BASE_URL MODEL
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: process.env.SWITCHYARD_KEY || "unused", maxRetries: 0 });

const types = [];
let text = "";
const stream = await client.responses.create({ model, input: "count to five", stream: true });
let final = null;
for await (const event of stream) {
  types.push(event.type);
  if (event.type === "response.output_text.delta") text += event.delta;
  if (event.type === "response.completed") final = event.response;
}
// The final response's own output text, which must agree with the deltas.
const outputText = (final?.output ?? []).filter((o) => o.type === "message")
  .flatMap((o) => o.content).filter((c) => c.type === "output_text").map((c) => c.text).join("");
console.log(JSON.stringify({ types, text, status: final?.status, output_text: outputText, usage: final?.usage ?? null }));
