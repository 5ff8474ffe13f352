#!/usr/bin/env node
// Builds dist/esm (ES modules) and dist/cjs (CommonJS) with tsc, then the
// CommonJS entry dist/cjs/index.cjs, whose module.exports is the Herm class
// itself (so `const Herm = require("herm")` works) carrying every named
// export, `default` included.
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(join(root, "dist"), { recursive: true, force: true });
for (const project of ["tsconfig.json", "tsconfig.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", join(root, project)], { stdio: "inherit", cwd: root });
}
writeFileSync(join(root, "dist", "cjs", "package.json"), '{\n  "type": "commonjs"\n}\n');
writeFileSync(
  join(root, "dist", "cjs", "index.cjs"),
  `"use strict";
const mod = require("./index.js");
const Herm = mod.Herm;
for (const [k, v] of Object.entries(mod)) {
  if (k !== "__esModule") Object.defineProperty(Herm, k, { value: v, enumerable: true, configurable: true, writable: true });
}
Object.defineProperty(Herm, "__esModule", { value: true });
module.exports = Herm;
`,
);
writeFileSync(
  join(root, "dist", "cjs", "index.d.cts"),
  `import * as mod from "./index.js";
declare const Herm: typeof mod.Herm & typeof mod;
type Herm = mod.Herm;
export = Herm;
`,
);
console.log("build: dist/esm and dist/cjs written");
