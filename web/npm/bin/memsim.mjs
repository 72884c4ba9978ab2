#!/usr/bin/env node
// memsim check LESSON: checks a lesson file headless, in Node, with the
// simulator's own engine module (engine/engine_bg.wasm, the one the page
// loads): the same trace on stdout, the same messages on stderr and the
// same exit codes as `scenarios run` (0: every expectation holds, 1: one
// failed, 2: the lesson or a file it names is invalid). Files the lesson
// brings beside it (`src = "hello"`) are read next to it.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initSync, check, lesson_sources, provide_system_image } from "../engine/engine.js";

const here = dirname(fileURLToPath(import.meta.url));
const [cmd, file, ...rest] = process.argv.slice(2);
if (cmd !== "check" || !file || rest.length) {
  process.stderr.write("usage: memsim check LESSON.toml|LESSON.json\n");
  process.exit(2);
}
let text;
try {
  text = readFileSync(file, "utf8");
} catch (e) {
  process.stderr.write(`${file}: not a built-in lesson and not a readable file: ${e.message}\n`);
  process.exit(2);
}
initSync({ module: readFileSync(join(here, "..", "engine", "engine_bg.wasm")) });
// Debian 12's ld.so and libc, for lessons that run dynamically linked programs.
const image = join(here, "..", "system", "debian-12.sysimg");
if (existsSync(image)) provide_system_image("debian-12", readFileSync(image));
const parts = [], lengths = [], unread = [];
for (const src of lesson_sources(text)) {
  const p = join(dirname(file), src);
  try {
    const b = readFileSync(p);
    parts.push(b);
    lengths.push(b.length);
  } catch (e) {
    lengths.push(0xffffffff);
    unread.push(`cannot read ${p}: ${e.message}`);
  }
}
const [code, stdout, stderr] = check(file, text, Buffer.concat(parts), Uint32Array.from(lengths), unread.join("\n"));
process.stdout.write(stdout);
process.stderr.write(stderr);
process.exitCode = Number(code);
