// Validate an AsyncAPI document with the official parser; print {"errors": [...], "warnings": n} and exit 1 on errors.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(process.argv[2], "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code} ${d.path.join(".")}: ${d.message}`);
const warnings = diagnostics.filter((d) => d.severity === 1).map((d) => `${d.code} ${d.path.join(".")}: ${d.message}`);
process.stdout.write(JSON.stringify({ parsed: Boolean(document), errors, warnings }) + "\n");
process.exit(document && errors.length === 0 ? 0 : 1);
