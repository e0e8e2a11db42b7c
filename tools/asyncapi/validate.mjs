// Validate an AsyncAPI document with the official parser; prints its diagnostics as JSON, exits 1 on errors.
// Usage: node validate.mjs path/to/asyncapi.json
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), { source: path });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
console.log(JSON.stringify({ valid: document !== undefined && errors.length === 0, diagnostics }, null, 1));
process.exit(errors.length === 0 && document !== undefined ? 0 : 1);
