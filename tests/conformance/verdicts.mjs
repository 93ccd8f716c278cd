// One line per scenario the conformance CLI saved under RESULTS_DIR
// (`server-<scenario>-<timestamp>/checks.json`): `<scenario>\t<pass|fail>\t<why>`.
// A scenario fails when any of its checks has status FAILURE (the CLI's own rule);
// WARNING and INFO checks do not fail it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
for (const entry of readdirSync(dir).sort()) {
  const named = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
  if (!named) continue;
  const checks = JSON.parse(readFileSync(join(dir, entry, "checks.json"), "utf8"));
  const failures = checks.filter((c) => c.status === "FAILURE");
  const why = failures
    .map((c) => `${c.id}: ${c.errorMessage ?? c.description}`)
    .join("; ")
    .replace(/\s+/g, " ");
  console.log(`${named[1]}\t${failures.length ? "fail" : "pass"}\t${why}`);
}
