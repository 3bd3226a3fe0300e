// Runs the npm package piston-client (the Node client listed in Piston's
// README) unchanged against an Airlock server and prints what it got as one
// JSON object. cmd/airlock/compat_test.go runs it against a dev stack and
// checks the answers; by hand:
//
//   npm ci && node piston-client-check.mjs http://127.0.0.1:8080
import piston from "piston-client";

const server = process.argv[2] || "http://127.0.0.1:8080";
const client = piston({ server });

const out = {};
out.runtimes = await client.runtimes();
// Defaults of the client: newest version of the language, args ["1","2","3"],
// run_timeout 3000, compile_timeout 10000, memory limits -1.
out.python = await client.execute("python", "import sys\nprint(input(), sys.argv[1:])\n", { stdin: "world" });
out.cpp = await client.execute("c++", "#include <iostream>\nint main() { std::cout << \"hi from c++\" << std::endl; }\n", { args: [] });
out.compileError = await client.execute("c++", "int main() { return x; }\n");
out.explicitVersion = await client.execute({ language: "py", version: "3.x", files: [{ name: "main.py", content: "print(6 * 7)" }], args: [] });
out.unknown = await client.execute("no-such-language", "x");
console.log(JSON.stringify(out));
