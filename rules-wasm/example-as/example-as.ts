// example-as: the "fit-by-priority" example rule in AssemblyScript, on
// sdk/rule/assemblyscript. Build (after `npm ci` in sdk/rule/assemblyscript):
//
//   sdk/rule/assemblyscript/node_modules/.bin/asc rules-wasm/example-as/example-as.ts \
//     -o bin/rules/example-as.wasm -O3 --runtime stub --use abort= --exportStart _initialize
//
// The same rule exists in Go, C, Rust and WAT; see README.md.
import { Candidate, Decision, Input, Kind, Value, initEntry, routeEntry } from "../../sdk/rule/assemblyscript/assembly/switchyard";
export { sy_abi_v1, sy_alloc } from "../../sdk/rule/assemblyscript/assembly/switchyard";

const MAX_TARGETS = 3;

let highPriority: i64 = 8; // priority >= this: largest context first
let defaultOutputTokens: i64 = 256; // assumed when the request sets no max_tokens

// init reads {"high_priority": 1..11, "default_output_tokens": >= 0}; both
// optional, anything else refuses the load. Returns "" to accept.
function init(config: Value): string {
  if (config.kind != Kind.Object) return "example-as: config must be an object";
  let high: i64 = 8, out: i64 = 256;
  let it = config.iter();
  while (it.next()) {
    if (it.value.kind != Kind.Number) return "example-as: config values must be numbers";
    if (it.key.eq("high_priority")) high = it.value.int(0);
    else if (it.key.eq("default_output_tokens")) out = it.value.int(-1);
    else return "example-as: unknown config key";
  }
  if (high < 1 || high > 11 || out < 0) return "example-as: need 1 <= high_priority <= 11 and default_output_tokens >= 0";
  highPriority = high;
  defaultOutputTokens = out;
  return "";
}

// better reports whether a goes before b; equal candidates keep input order.
function better(a: Candidate, b: Candidate, high: bool): bool {
  return high ? a.contextWindow > b.contextWindow : a.usdPerMtokIn < b.usdPerMtokIn;
}

// The best MAX_TARGETS so far: static memory, so nothing is allocated per
// call and the module needs no start function.
const top = memory.data(MAX_TARGETS * sizeof<usize>(), 8);

function topAt(i: i32): Candidate {
  return changetype<Candidate>(load<usize>(top + (<usize>i << alignof<usize>())));
}

function setTop(i: i32, c: Candidate): void {
  store<usize>(top + (<usize>i << alignof<usize>()), changetype<usize>(c));
}

function route(input: Input, d: Decision): void {
  let r = input.request;
  let need = r.promptTokensEstimate + (r.maxTokens > 0 ? r.maxTokens : defaultOutputTokens);
  let high = r.priority >= highPriority;
  let n = 0;
  for (let i = 0; i < input.count; i++) {
    let c = input.candidate(i);
    if (!c.healthy || c.circuit.eq("open") || c.contextWindow < need) continue;
    // insert after equal ones
    let j = n;
    while (j > 0 && better(c, topAt(j - 1), high)) {
      if (j < MAX_TARGETS) setTop(j, topAt(j - 1));
      j--;
    }
    if (j < MAX_TARGETS) setTop(j, c);
    if (n < MAX_TARGETS) n++;
  }
  if (n == 0) return; // no opinion
  for (let i = 0; i < n; i++) d.target(topAt(i));
  d.reason(high ? "high priority: largest context first" : "cheapest that fits");
  d.tag(high ? "largest-context" : "cheapest");
}

export function sy_init(ptr: usize, len: u32): i32 {
  return initEntry(ptr, len, init);
}

export function sy_route(ptr: usize, len: u32): u64 {
  return routeEntry(ptr, len, route);
}
