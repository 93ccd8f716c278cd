// The Node end of tests/e2e/node.rs: runs the jco-transpiled orderdesk.wasm (see embed.js)
// against the fake OrderDesk the Rust test started, and prints one JSON object.
//
//   node harness.js '{"out_dir": "...", "settings": {...}, "order_id": "...",
//                     "missing_order_id": "42", "hits": 200}'
import { http } from "@bytecodealliance/preview2-shim";
import { instantiateOrderDesk, onlyTo } from "./embed.js";

const spec = JSON.parse(process.argv[2]);
let calls = 0;
const caller = () => ({ credential: undefined, defaultStore: undefined, requestId: `node-${++calls}` });

/** `call-tool`: `{ ok: <structured JSON> }` or `{ error: <call-error> }`. */
function callTool(tools, name, args) {
  try {
    const out = tools.callTool(caller(), name, JSON.stringify(args));
    return { ok: JSON.parse(out.structured) };
  } catch (e) {
    // jco throws a result's error as a ComponentError carrying it as `payload`.
    if (e?.payload === undefined) throw e;
    return { error: e.payload };
  }
}

const started = performance.now();
const { tools } = await instantiateOrderDesk(spec.out_dir, spec.settings);
const instantiateMs = performance.now() - started;

const listed = tools.listTools();
const miss = callTool(tools, "orders_get", { order_id: spec.order_id });
const hit = callTool(tools, "orders_get", { order_id: spec.order_id });
const missing = callTool(tools, "orders_get", { order_id: spec.missing_order_id });
const unknown = callTool(tools, "no_such_tool", {});

// The egress policy on its own: a request to another origin never leaves.
const stray = new http.types.OutgoingRequest(new http.types.Fields());
stray.setScheme({ tag: "HTTP" });
stray.setAuthority("127.0.0.1:9");
stray.setPathWithQuery("/");
let egress = "sent";
try {
  onlyTo(http.outgoingHandler, spec.settings.api_url).handle(stray);
} catch (e) {
  egress = e?.tag ?? String(e);
}

const times = [];
for (let i = 0; i < spec.hits; i++) {
  const t = process.hrtime.bigint();
  const r = callTool(tools, "orders_get", { order_id: spec.order_id });
  times.push(Number(process.hrtime.bigint() - t) / 1000);
  if (r.ok?.cache !== "hit") throw new Error(`call ${i} was not a cache hit: ${JSON.stringify(r)}`);
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];

console.log(
  JSON.stringify({
    instantiate_ms: instantiateMs,
    tools: listed.map((t) => ({ name: t.name, input_schema: JSON.parse(t.inputSchema) })),
    miss,
    hit,
    missing,
    unknown,
    egress,
    hit_latency_us: { n: times.length, median: at(0.5), p90: at(0.9) },
  }),
);
