#!/usr/bin/env node
// memsim check LESSON: checks a lesson file headless, in Node, with the
// simulator's own engine module (engine/engine_bg.wasm, the one the page
// loads): the same trace on stdout, the same messages on stderr and the
// same exit codes as `scenarios run` (0: every expectation holds, 1: one
// failed, 2: the lesson or a file it names is invalid, or the checker
// itself could not run). Files the lesson brings beside it
// (`src = "hello"`) are read next to it.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initSync, check, lesson_sources, provide_system_image } from "../engine/engine.js";

const here = dirname(fileURLToPath(import.meta.url));
const fail = (msg) => {
  process.stderr.write(msg + "\n");
  process.exit(2);
};
// The operating system's words for a file that cannot be read, as Rust's
// std::io::Error prints them (so messages match `scenarios run`'s).
const ioError = (e) =>
  ({ ENOENT: "No such file or directory (os error 2)", EACCES: "Permission denied (os error 13)", EISDIR: "Is a directory (os error 21)" })[e.code] ??
  e.message;
const [cmd, file, ...rest] = process.argv.slice(2);
if (cmd !== "check" || !file || rest.length) fail("usage: memsim check LESSON.toml|LESSON.json");
let bytes;
try {
  bytes = readFileSync(file);
} catch (e) {
  fail(`${file}: not a readable file: ${ioError(e)}`);
}
let text;
try {
  text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
} catch {
  fail(`${file}:1:1: the file is not UTF-8 text (memsim check reads lesson files; scenarios run also runs ELF files)`);
}
try {
  initSync({ module: readFileSync(join(here, "..", "engine", "engine_bg.wasm")) });
  // Debian 12's ld.so and libc, for lessons that run dynamically linked programs.
  const image = join(here, "..", "system", "debian-12.sysimg");
  if (existsSync(image)) provide_system_image("debian-12", readFileSync(image));
  // Beside the lesson, as Rust's Path::join puts it (no normalising).
  const dir = dirname(file) === "." && !file.startsWith("./") ? "" : dirname(file) + "/";
  const parts = [], lengths = [], unread = [];
  for (const src of lesson_sources(text)) {
    const p = dir + src;
    try {
      const b = readFileSync(p);
      parts.push(b);
      lengths.push(b.length);
    } catch (e) {
      lengths.push(0xffffffff);
      unread.push(`cannot read ${p}: ${ioError(e)}`);
    }
  }
  const [code, stdout, stderr] = check(file, text, Buffer.concat(parts), Uint32Array.from(lengths), unread.join("\n"));
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = Number(code);
} catch (e) {
  fail(`${file}: the checker could not run: ${e && e.message ? e.message : e}`);
}
