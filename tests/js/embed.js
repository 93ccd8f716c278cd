// Embedding orderdesk.wasm in Node (the README quotes this file). In tests/js:
//
//   npm ci
//   npx jco transpile orderdesk.wasm -o out --instantiation async --name orderdesk
//
//   import { instantiateOrderDesk } from "./embed.js";
//   const { tools } = await instantiateOrderDesk("out", { api_url, store_id, api_key });
//   tools.listTools(); // [{ name: "tenant_use_master_key", … }, …]
//   const out = tools.callTool({ requestId: "1" }, "orders_get", '{"order_id":"100001"}');
//   JSON.parse(out.structured).order; // a tool error is thrown, as `e.payload`
//
// jco writes ES modules with a .js extension: `out` needs a package.json saying
// {"type": "module"} unless it sits under one (as tests/js/out does).
//
// preview2-shim provides WASI (cli, clocks, random, io, http); the component needs three
// more imports, given here in memory: wasi:keyvalue (store + atomics), wasi:config and
// orderdesk:mcp/lock. State lives as long as the process; the in-memory lock is right for
// one process and no other instance sharing the state.
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";

/** `wasi:keyvalue/store` and `atomics` over named in-memory maps. */
export function memoryKeyvalue() {
  const buckets = new Map();
  class Bucket {
    constructor(map) {
      this.map = map;
    }
    get(key) {
      return this.map.get(key);
    }
    set(key, value) {
      this.map.set(key, Uint8Array.from(value));
    }
    delete(key) {
      this.map.delete(key);
    }
    exists(key) {
      return this.map.has(key);
    }
    listKeys(_cursor) {
      return { keys: [...this.map.keys()], cursor: undefined };
    }
  }
  const open = (name) => {
    if (!buckets.has(name)) buckets.set(name, new Map());
    return new Bucket(buckets.get(name));
  };
  // Counters are stored as decimal text, as the project's own host stores them.
  const increment = (bucket, key, delta) => {
    const text = bucket.map.has(key) ? new TextDecoder().decode(bucket.map.get(key)) : "0";
    const next = BigInt(text) + delta;
    bucket.map.set(key, new TextEncoder().encode(next.toString()));
    return next;
  };
  return { store: { Bucket, open }, atomics: { increment } };
}

/** `wasi:config/store` from a plain object of settings (keys as in settings/src/lib.rs). */
export function config(values) {
  const entries = Object.entries(values).map(([k, v]) => [k, String(v)]);
  return { get: (key) => entries.find(([k]) => k === key)?.[1], getAll: () => entries };
}

/** `orderdesk:mcp/lock`: leases in a Map, for a single process. */
export function memoryLock() {
  const held = new Map(); // name -> { owner, until }
  const live = (name) => {
    const lease = held.get(name);
    return lease && lease.until > Date.now() ? lease : undefined;
  };
  return {
    acquire(name, owner, ttlMs) {
      const lease = live(name);
      if (lease && lease.owner !== owner) return false;
      held.set(name, { owner, until: Date.now() + Number(ttlMs) });
      return true;
    },
    renew(name, owner, ttlMs) {
      if (live(name)?.owner !== owner) return false;
      held.set(name, { owner, until: Date.now() + Number(ttlMs) });
      return true;
    },
    release(name, owner) {
      if (live(name)?.owner !== owner) return false;
      held.delete(name);
      return true;
    },
  };
}

/** An `outgoing-handler` that refuses every request outside `origin` (the egress policy). */
export function onlyTo(outgoingHandler, origin) {
  const allowed = new URL(origin);
  const handle = (request, options) => {
    const scheme = request.scheme()?.tag === "HTTPS" ? "https:" : "http:";
    if (scheme !== allowed.protocol || request.authority() !== allowed.host) {
      throw { tag: "HTTP-request-denied" };
    }
    return outgoingHandler.handle(request, options);
  };
  return { ...outgoingHandler, handle };
}

/** Instantiate the transpiled component in `outDir` with `settings`; returns its exports. */
export async function instantiateOrderDesk(outDir, settings) {
  const wasi = new WASIShim({ sandbox: { env: {}, args: ["orderdesk"], preopens: {} } });
  const imports = wasi.getImportObject();
  const kv = memoryKeyvalue();
  const { instantiate } = await import(pathToFileURL(join(outDir, "orderdesk.js")).href);
  return instantiate(null, {
    ...imports,
    "wasi:http/outgoing-handler": onlyTo(imports["wasi:http/outgoing-handler"], settings.api_url),
    "wasi:keyvalue/store": kv.store,
    "wasi:keyvalue/atomics": kv.atomics,
    "wasi:config/store": config(settings),
    "orderdesk:mcp/lock": memoryLock(),
  });
}
