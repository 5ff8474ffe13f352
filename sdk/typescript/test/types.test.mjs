// The generated types are those of api/openapi.yaml, and the package's types
// check: correct use compiles, wrong use does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "../scripts/gen-types.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = readFileSync(join(root, "..", "..", "api", "openapi.yaml"), "utf8");

test("src/generated/openapi.ts is what api/openapi.yaml generates (npm run gen)", () => {
  const r = spawnSync(process.execPath, [join(root, "scripts", "gen-types.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  // The check does notice a change of the API description.
  const changed = spec.replace(/^(\s+)Usage:\n/m, "$1Usage:\n$1  description: changed\n");
  assert.notEqual(changed, spec);
  assert.notEqual(generate(changed), readFileSync(join(root, "src", "generated", "openapi.ts"), "utf8"));
});

test("generator: schema forms", () => {
  const out = generate(`
openapi: 3.1.0
paths:
  /v1/x/{id}:
    get: {}
    post: {}
components:
  schemas:
    A:
      type: object
      required: [a, b]
      properties:
        a: {type: [string, "null"]}
        b: {type: string, enum: [x, y]}
        c: {type: array, items: {$ref: '#/components/schemas/B'}}
        d: {type: object, additionalProperties: {type: integer}}
        e: {description: anything}
    B:
      oneOf:
        - {$ref: '#/components/schemas/A'}
        - {type: object, properties: {t: {const: tok}}, required: [t]}
      discriminator: {propertyName: t}
`);
  assert.match(out, /export interface A \{\n  a: string \| null;\n  b: "x" \| "y";\n  c\?: B\[\];\n  d\?: \{ \[key: string\]: number \};\n  \/\*\* anything \*\/\n  e\?: unknown;\n\}/);
  assert.match(out, /export type B = A \| \{\n  t: "tok";\n\};/);
  assert.match(out, /"\/v1\/x\/\{id\}": "GET" \| "POST";/);
});

test("the package's types: right use compiles, wrong use is an error", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(root, "test", "types", "tsconfig.json")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
