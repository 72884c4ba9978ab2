// End-to-end test: the built site, served on localhost, driven in headless
// Chromium through playwright-core (installed by `cargo xtask setup` into
// tools/). Checks what a student does; saves screenshots and timings under
// target/e2e/ for a person to look at.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, "tools", "package.json"));
const { chromium } = require("playwright-core");
const base = process.env.BASE_URL || "http://127.0.0.1:8080/";
const out = join(root, "target", "e2e");
mkdirSync(out, { recursive: true });

let passed = 0, failed = 0;
const metrics = {};
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); }
  catch (e) { failed++; console.log(`FAIL ${name}: ${e.message}`); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
// The address bar is written once the timeline rests (200 ms): wait for it.
const addressHas = (s) => page.waitForFunction((s) => location.search.includes(s), s, { timeout: 5000 }).catch(() => {});
const p95 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// The console noise a student's devtools would show: a favicon 404, the
// passive-listener error on key presses.
const noise = [];
page.on("response", (r) => { if (r.status() === 404 && r.url().includes("favicon")) noise.push(`404 ${r.url()}`); });
page.on("console", (m) => { if (/passive event listener/i.test(m.text())) noise.push(m.text()); });
const position = () => page.textContent("#position");
// Every navigation waits for the narrator module (the events' words), which
// the page fetches right after its first render.
// Questions are turned off (`questions=off`) except where a check asks for
// them: the other checks step through lessons without stopping to answer.
const navigate = page.goto.bind(page);
page.goto = async (url, ...rest) => {
  // (The app's own page only: a course page's address is its own.)
  if (!url.includes("questions=") && (url === base || url.includes("?"))) url += (url.includes("?") ? "&" : "?") + "questions=off";
  const r = await navigate(url, ...rest);
  await page.waitForFunction(() => globalThis.simNarratorReady === true, null, { timeout: 30000 });
  return r;
};

await check("the first lesson renders", async () => {
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForSelector("#position");
  metrics.first_render_ms = Date.now() - t0;
  metrics.first_render_nav_ms = await page.evaluate(() => performance.now());
  assert((await position()).startsWith("event 0 /"), await position());
  await page.screenshot({ path: join(out, "01-start.png"), fullPage: true });
});

await check("step forward and back", async () => {
  for (let i = 0; i < 3; i++) await page.click("#btn-next");
  await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 3 /"));
  const third = await page.textContent("#event-text");
  await page.click("#btn-next");
  await page.click("#btn-prev");
  await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 3 /"));
  assert((await page.textContent("#event-text")) === third, "back shows the same event");
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 4 /"));
  await addressHas("step=4");
  assert(page.url().includes("step=4"), `the address bar follows: ${page.url()}`);
  await page.screenshot({ path: join(out, "02-stepped.png"), fullPage: true });
});

await check("a reload right after one step opens that step", async () => {
  await page.waitForTimeout(300);
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 5 /"));
  await page.reload();
  await page.waitForSelector("#position");
  assert((await position()).startsWith("event 5 /"), `after the reload: ${await position()}`);
});

await check("a permalink opens that exact state", async () => {
  await page.goto(base + "?lesson=fork-cow&step=40");
  await page.waitForSelector("#position");
  assert((await position()).startsWith("event 40 /"), await position());
  assert((await page.textContent("#lesson-title")).includes("fork"), "fork lesson");
  await page.screenshot({ path: join(out, "03-permalink-fork.png"), fullPage: true });
});

await check("predict, then check: a question waits for its answer, then the step runs and the verdict explains", async () => {
  await page.goto(base + "?lesson=fork-cow&step=0&questions=on");
  await page.waitForSelector("#position");
  // To the end of operation 4: operation 5 (fork) asks first.
  for (let i = 0; i < 4; i++) await page.keyboard.press("Shift+ArrowRight");
  await page.waitForSelector("#ask #choice-1");
  const at = await position();
  assert((await page.textContent("#ask")).includes("Before operation 5"), await page.textContent("#ask"));
  await page.keyboard.press("ArrowRight");
  await page.click("#btn-next");
  assert((await position()) === at, `stepping waits for the answer: ${await position()} vs ${at}`);
  await page.screenshot({ path: join(out, "13-question.png"), fullPage: false });
  // A wrong answer: the step runs, the verdict says so and gives the simulation's answer.
  await page.click("#choice-2");
  await page.waitForSelector("#ask-verdict");
  assert((await position()) !== at, "the step ran");
  const wrong = await page.textContent("#ask-verdict");
  assert(wrong.includes("Not quite") && wrong.includes("2: the child's page-table entries point at the parent's two frames"), wrong);
  // The next operation's question, answered right with its number key.
  await page.keyboard.press("Shift+ArrowRight");
  await page.waitForFunction(() => (document.querySelector("#ask .ask-head") || {}).textContent?.includes("Before operation 6"));
  await page.keyboard.press("2");
  await page.waitForFunction(() => (document.querySelector("#ask-verdict") || {}).textContent?.includes("Right"));
  await page.screenshot({ path: join(out, "14-answered.png"), fullPage: false });
  // "don't ask me" turns them off and the address bar keeps it.
  await page.keyboard.press("Shift+ArrowRight");
  await page.waitForSelector("#btn-questions-off");
  await page.click("#btn-questions-off");
  await page.waitForSelector("#btn-questions-on");
  const before = await position();
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction((b) => document.querySelector("#position").textContent !== b, before);
  await addressHas("questions=off");
  assert(page.url().includes("questions=off"), page.url());
});

await check("pictures: after fork two processes' pages meet at one frame; the BPF graph draws a pin and programs holding a map", async () => {
  await page.goto(base + "?lesson=fork-cow&step=36");
  await page.waitForSelector("svg.pic-memory path.pic-map", { state: "attached" });
  const lines = await page.$$eval("svg.pic-memory path.pic-map", (ps) => ps.map((p) => [p.dataset.pid, p.dataset.va, p.dataset.frame, p.classList.contains("ro")]));
  const at = (pid) => lines.find((l) => l[0] === pid && l[1] === "0x10000000");
  assert(at("1") && at("2") && at("1")[2] === at("2")[2] && at("1")[3] && at("2")[3], JSON.stringify(lines));
  const desc = await page.textContent("#pic-memory-desc");
  assert(desc.includes(`frame ${at("1")[2]} is shared`), desc);
  // The tables are a toggle away.
  assert(await page.$eval(".view.frames", (e) => e.hidden), "tables hidden beside the picture");
  await page.click("#btn-tables");
  assert(!(await page.$eval(".view.frames", (e) => e.hidden)), "tables shown");
  // Every box is reachable with Tab and names itself.
  const focusable = await page.$$eval("svg.pic-memory g[tabindex='0'] > title", (ts) => ts.length);
  assert(focusable >= 4, `focusable items: ${focusable}`);
  await page.screenshot({ path: join(out, "15-picture-fork.png"), fullPage: true });
  // The walk figure: paging-walk's retried store, at its last level.
  await page.goto(base + "?lesson=paging-walk&step=15");
  await page.waitForSelector("svg.pic-walk g.pic-page", { state: "attached" });
  const walkDesc = await page.textContent("#pic-walk-desc");
  assert(walkDesc.includes("CR3 names frame") && walkDesc.includes("the walk reaches frame"), walkDesc);
  const used = await page.$$eval("svg.pic-walk g.pic-field.used > title", (ts) => ts.map((t) => t.textContent));
  assert(used.length === 4 && used[2].includes("PD index, 128"), JSON.stringify(used));
  // Keyboard: Tab reaches the picture's items, the arrows move between them, the lesson stays put.
  const before = await position();
  await page.focus("svg.pic-walk g.pic-field");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  const focused = await page.evaluate(() => document.activeElement?.querySelector("title")?.textContent);
  assert(focused && focused.startsWith("bits 29-21: PD index"), `focus after two arrows: ${focused}`);
  await page.keyboard.press("ArrowLeft");
  assert((await page.evaluate(() => document.activeElement?.querySelector("title")?.textContent)).startsWith("bits 38-30"), "ArrowLeft goes back");
  assert((await position()) === before, `the arrows on a picture do not step: ${before} then ${await position()}`);
  await page.screenshot({ path: join(out, "19-picture-walk.png"), fullPage: false });
  await page.goto(base + "?lesson=bpf-map-sharing&step=40");
  await page.waitForSelector("svg.pic-bpf path.pic-ref", { state: "attached" });
  const refs = await page.$$eval("svg.pic-bpf path.pic-ref", (ps) => ps.map((p) => [p.dataset.from, p.dataset.to]));
  assert(refs.some(([f, t]) => f.startsWith("pin:") && t.startsWith("map:")) || refs.some(([f, t]) => f.startsWith("prog:") && t.startsWith("map:")), JSON.stringify(refs));
  await page.screenshot({ path: join(out, "16-picture-bpf.png"), fullPage: true });
});

await check("a seeded exercise: its permalink reproduces it, another seed makes another", async () => {
  const url = base + "?lesson=exercise-translate&seed=5&questions=on";
  const question = async () => {
    await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("(seed"), null, { timeout: 60000 });
    await page.keyboard.press("End");
    await page.keyboard.press("Home");
    for (let i = 0; i < 6; i++) await page.keyboard.press("Shift+ArrowRight");
    await page.waitForSelector("#ask-q");
    return [await page.textContent("#lesson-title"), await page.textContent("#ask-q"), await page.textContent("#ask .ask-choices")];
  };
  await page.goto(url);
  const first = await question();
  assert(first[0].includes("(seed 5)"), first[0]);
  await page.goto(url);
  const again = await question();
  assert(JSON.stringify(first) === JSON.stringify(again), `the same seed, the same exercise: ${first} / ${again}`);
  await page.screenshot({ path: join(out, "17-exercise.png"), fullPage: false });
  // The answer the simulation found is among the choices, and answering runs the step.
  await page.click("#choice-1");
  await page.waitForSelector("#ask-verdict");
  await page.click("#btn-new-seed");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("(seed 6)"), null, { timeout: 60000 });
  await addressHas("seed=6");
  assert(page.url().includes("seed=6"), page.url());
});

await check("compare: the lesson beside a variant, stepping together, differences marked", async () => {
  await page.goto(base + "?lesson=who-maps-libc&compare=1");
  await page.waitForSelector("#side-other");
  assert((await page.textContent("#side-other .side-title")).includes("ASLR"), await page.textContent("#side-other .side-title"));
  assert((await page.getAttribute("#btn-compare-1", "aria-pressed")) === "true", "the variant's button is pressed");
  // Operation by operation, both sides move: after exec the two differ in their events.
  for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+ArrowRight");
  await page.waitForSelector("#diff-here");
  const other3 = await page.textContent("#event-text-2");
  assert((await page.textContent("#diff-here")).includes("Operation 3"), await page.textContent("#diff-here"));
  // The access at ld.so's setarch -R address: fine here, SIGSEGV with ASLR.
  await page.keyboard.press("Shift+ArrowRight");
  await page.waitForFunction(() => (document.querySelector("#diff-here") || {}).textContent?.includes("Operation 4"));
  assert((await page.textContent("#diff-here")).includes("SIGSEGV"), await page.textContent("#diff-here"));
  assert((await page.textContent("#event-text-2")) !== other3, "the other side stepped too");
  const diffs = await page.$$eval("#compare-diffs .diff-op", (bs) => bs.map((b) => b.textContent));
  assert(diffs.includes("4!"), `operation 4 marked as returning something else: ${diffs}`);
  await page.screenshot({ path: join(out, "18-compare.png"), fullPage: false });
  await page.keyboard.press("End");
  await page.waitForSelector("#variant-stopped");
  await addressHas("compare=1");
  assert(page.url().includes("compare=1"), page.url());
  // Another knob, then none.
  await page.click("#btn-compare-2");
  await page.waitForFunction(() => (document.querySelector("#side-other .side-title") || {}).textContent?.includes("non-PIE"));
  await page.click("#btn-compare-2");
  await page.waitForFunction(() => !document.querySelector("#side-other"));
  await page.waitForFunction(() => !location.search.includes("compare="), null, { timeout: 5000 }).catch(() => {});
  assert(!page.url().includes("compare="), page.url());
  // At a phone's width the sides stack.
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto(base + "?lesson=bpf-who-creates-map&compare=2&step=20");
  await page.waitForSelector("#side-other");
  const [a, b] = await Promise.all(["#side-main", "#side-other"].map((s) => page.$eval(s, (e) => e.getBoundingClientRect().toJSON())));
  assert(b.top >= a.bottom - 1 && b.width <= 360, `stacked: ${JSON.stringify([a, b])}`);
  await page.screenshot({ path: join(out, "19-compare-360.png"), fullPage: false });
  await page.setViewportSize({ width: 1400, height: 1000 });
});

await check("a bad lesson file shows the error and keeps the lesson", async () => {
  await page.goto(base + "?lesson=fork-cow&step=40");
  await page.waitForSelector("#position");
  await page.setInputFiles("#file-input", { name: "broken.toml", mimeType: "text/plain", buffer: Buffer.from('id = "b"\ntitle = "t"\nsummary = "s"\n[[steps]]\nsay = "x"\ndo = { op = "fork" }\n') });
  await page.waitForSelector(".error");
  const err = await page.textContent(".error");
  assert(err.includes("broken.toml:6:") && err.includes("missing field `pid`"), err);
  assert((await position()).startsWith("event 40 /"), "the previous state stays");
  await page.screenshot({ path: join(out, "04-bad-file.png"), fullPage: true });
});

await check("your own ELF file is exec'd", async () => {
  await page.setInputFiles("#file-input", { name: "static_maps", mimeType: "application/octet-stream", buffer: readFileSync(join(root, "fixtures/exec/static_maps")) });
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("your file"));
  await page.click("#btn-end");
  await page.waitForFunction(() => document.querySelector(".views").textContent.includes("PT_LOAD #1"));
  await page.screenshot({ path: join(out, "05-own-elf.png"), fullPage: true });
});

await check("a dynamically linked program: the kernel maps it and ld.so, fetching the system image once", async () => {
  const fetched = [];
  const onRequest = (r) => { if (r.url().includes("system/")) fetched.push(r.url()); };
  page.on("request", onRequest);
  const t0 = Date.now();
  await page.setInputFiles("#file-input", { name: "dynamic_pie", mimeType: "application/octet-stream", buffer: readFileSync(join(root, "fixtures/exec/dynamic_pie")) });
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("dynamic_pie"));
  metrics.dynamic_open_ms = Date.now() - t0;
  await page.click("#btn-end");
  await page.waitForFunction(() => document.querySelector(".views").textContent.includes("ld-linux-x86-64.so.2"));
  const models = await page.textContent("#lesson-models");
  assert(models.includes("Linux 6.18") && models.includes("glibc 2.36"), `the versions line: ${models}`);
  await page.click(".proc-maps summary");
  const maps = await page.textContent(".proc-maps pre");
  assert(/7ffff7fca000-7ffff7fcb000 r--p 00000000 fe:00 \d+ +\/usr\/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2/.test(maps), `ld.so in /proc/PID/maps: ${maps}`);
  assert(maps.includes("[vdso]") && maps.includes("[vsyscall]"), "vdso and vsyscall lines");
  await page.screenshot({ path: join(out, "05b-own-dynamic-elf.png"), fullPage: true });
  page.off("request", onRequest);
  assert(fetched.length === 1, `the system image is fetched once: ${fetched}`);
});

await check("your own firmware is flashed and run", async () => {
  await page.setInputFiles("#file-input", { name: "firmware.elf", mimeType: "application/octet-stream", buffer: readFileSync(join(root, "fixtures/mcu/firmware.elf")) });
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("your firmware"));
  await page.click("#btn-end");
  await page.waitForFunction(() => (document.querySelector("#event-text") || {}).textContent?.includes("idling"));
  // An STM32F103 image is put on the first preset it fits; "Run it on" moves it to another.
  await page.setInputFiles("#file-input", { name: "stm32.elf", mimeType: "application/octet-stream", buffer: readFileSync(join(root, "fixtures/mcu/stm32f103/firmware.elf")) });
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("STM32F103"));
  await page.click("#btn-end");
  await page.waitForFunction(() => (document.querySelector("#mcu-console") || {}).textContent?.includes("hi"));
  const view = await page.textContent(".view.mcu");
  assert(view.includes("STM32F103C8") && view.includes("flash @ 0x8000000 (also at 0)") && view.includes("RCC_CR"), view);
  await page.screenshot({ path: join(out, "08b-own-stm32.png"), fullPage: true });
  await page.selectOption("#board-picker", "stm32f4");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("STM32F4 Discovery"));
  await page.selectOption("#board-picker", "lm3s6965");
  await page.waitForFunction(() => (document.querySelector(".error") || {}).textContent?.includes("does not fit the lm3s6965 board"));
  assert((await page.textContent("#lesson-title")).includes("STM32F4 Discovery"), "the lesson stays");
  await page.click(".dismiss");
});

await check("a lesson by URL (?src=) and a broken one", async () => {
  await page.route("**/course/good.toml", (r) => r.fulfill({ body: 'id = "g"\ntitle = "From a course site"\nsummary = "s"\n[[steps]]\nsay = "x"\ndo = { op = "spawn", name = "p" }\n' }));
  await page.route("**/course/bad.toml", (r) => r.fulfill({ body: "this is not toml" }));
  await page.goto(base + "?src=" + encodeURIComponent(base + "course/good.toml"));
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent === "From a course site");
  await page.goto(base + "?src=" + encodeURIComponent(base + "course/bad.toml"));
  await page.waitForSelector(".error");
  assert((await page.textContent(".error")).includes("bad.toml:1:"), await page.textContent(".error"));
  await page.goto(base + "?src=" + encodeURIComponent(base + "course/missing.toml"));
  await page.waitForSelector(".error");
  assert((await page.textContent(".error")).includes("404"), await page.textContent(".error"));
});

await check("an instructor's lesson with its own ELF, firmware and BPF object beside it (?src=)", async () => {
  await page.goto(base + "?src=examples/instructor/lesson.toml");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("Week 3"));
  await page.click("#btn-end");
  await page.waitForSelector(".checks");
  const checks = await page.textContent(".checks");
  assert(checks.includes("program count_calls is loaded") && !checks.includes("✗"), checks);
  // The same lesson with one expectation broken fails the same way as on the command line.
  const text = readFileSync(join(root, "examples/instructor/lesson.toml"), "utf8").replace('symbol = "toggles", value = 4', 'symbol = "toggles", value = 5');
  await page.route("**/examples/instructor/broken.toml", (r) => r.fulfill({ status: 200, contentType: "text/plain", body: text }));
  await page.goto(base + "?src=examples/instructor/broken.toml");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("Week 3"));
  for (let i = 0; i < 7; i++) await page.click("#btn-next-op");
  await page.waitForFunction(() => (document.querySelector(".checks") || {}).textContent?.includes("toggles is 0x5"));
  assert((await page.textContent(".checks")).includes("✗ toggles is 0x5 (found 0x4)"), await page.textContent(".checks"));
  await page.unroute("**/examples/instructor/broken.toml");
});

await check("the Windows handle tables and PID reuse are shown", async () => {
  await page.goto(base + "?lesson=handles-vs-pids&step=45");
  // The tables come with the narrator module, right after the first render.
  await page.waitForSelector(".view.nt table.cid");
  const nt = await page.textContent(".view.nt");
  assert(nt.includes("PspCidTable") && nt.includes("debugger.exe"), nt);
  await page.click("#btn-end");
  await page.waitForFunction(() => document.querySelector(".view.nt").textContent.includes("bank.exe"));
  assert((await page.textContent(".view.nt")).includes("windbg.exe"), "all processes listed");
  await page.screenshot({ path: join(out, "08-handles.png"), fullPage: true });
});

await check("the microcontroller view: x becomes 5 in RAM", async () => {
  await page.goto(base + "?lesson=mcu-startup&step=21");
  // The view is drawn by the narrator module: its board line is there once it is.
  await page.waitForSelector("#mcu-board");
  const text = await page.textContent("#event-text");
  assert(text.includes("stored at 0x20000000"), text);
  const mcu = await page.textContent(".view.mcu");
  assert(mcu.includes("__sidata") && mcu.includes("two addresses") && mcu.includes("placed what the instruction touches"), mcu);
  await page.screenshot({ path: join(out, "09-mcu.png"), fullPage: true });
  // Three runtimes: each instruction's source line beside it, the board, the console.
  await page.goto(base + "?lesson=mcu-runtimes&step=12");
  await page.waitForSelector("#mcu-source");
  const src = await page.textContent("#mcu-source");
  assert(src.includes("startup_stm32f103.s:") && (src.includes("CopyDataInit") || src.includes("_sidata")), src);
  assert((await page.textContent("#mcu-board")).includes("STM32F103"), "the board line");
  await page.screenshot({ path: join(out, "09b-mcu-runtimes.png"), fullPage: true });
  // A tight loop: the page says which iteration this is, as the text trace
  // folds it, and "skip loop" lands on the first instruction after it.
  await page.goto(base + "?lesson=mcu-runtimes&step=40");
  await page.waitForSelector("#loop-note");
  const note = await page.textContent("#loop-note");
  assert(note.includes("Iteration 2 of 38") && note.includes("events 38-217") && note.includes("ran 36 more times"), note);
  await page.screenshot({ path: join(out, "09c-mcu-loop.png"), fullPage: true });
  await page.click("#btn-skip-loop");
  await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 223 /"));
  assert(!(await page.$("#loop-note")) && (await page.isDisabled("#btn-skip-loop")), "after the loop, no loop note and nothing to skip");
  await page.keyboard.press("ArrowLeft");
  await page.waitForSelector("#loop-note");
  assert((await page.textContent("#loop-note")).includes("Iteration 38 of 38"), "back into the loop's last iteration");
  // Nested interrupts: at IRQ0's entry three handlers are active, and the NVIC line says so.
  await page.goto(base + "?lesson=mcu-interrupts");
  for (let i = 0; i < 4; i++) await page.click("#btn-next-op");
  await page.waitForSelector("#mcu-exceptions");
  const exc = await page.textContent("#mcu-exceptions");
  assert(exc.includes("active SVCall (0x80), IRQ 0 (0x20), IRQ 1 (0x40)") && exc.includes("execution priority 0x20"), exc);
  await page.screenshot({ path: join(out, "09d-mcu-interrupts.png"), fullPage: true });
});

await check("the BPF lesson shows who holds each map", async () => {
  await page.goto(base + "?lesson=bpf-who-creates-map&step=5");
  await page.waitForSelector(".view.bpf table.bpf-maps");
  const bpf = await page.textContent(".view.bpf");
  assert(bpf.includes("counters") && bpf.includes("of bpftool (pid 1)"), bpf);
  await page.screenshot({ path: join(out, "10-bpf.png"), fullPage: true });
});

await check("your own BPF object is loaded by bpftool", async () => {
  await page.goto(base + "?lesson=paging-walk");
  await page.waitForSelector("#position");
  await page.setInputFiles("#file-input", { name: "tc_shared.o", mimeType: "application/octet-stream", buffer: readFileSync(join(root, "fixtures/bpf/tc_shared.o")) });
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("your object"));
  await page.click("#btn-end");
  await page.waitForSelector(".view.bpf");
});

// Every malformed input of the catalogue (written to target/malformed/ by the
// catalogue test), through the file picker and through ?src=: after each the
// error is shown and a built-in lesson still steps.
await check("the page never dies: every malformed input, by file picker and by ?src=", async () => {
  const dir = join(root, "target", "malformed");
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).filter((e) => e.kind === "file");
  assert(index.length >= 35, `catalogue has ${index.length} files`);
  await page.route("**/malformed/**", (r) => {
    const name = decodeURIComponent(new URL(r.request().url()).pathname.split("/malformed/")[1]);
    if (!existsSync(join(dir, name))) return r.fulfill({ status: 404, body: "not found" });
    r.fulfill({ status: 200, body: readFileSync(join(dir, name)), headers: { "access-control-allow-origin": "*" } });
  });
  const stillSteps = async (what) => {
    try { await stepsOnce(what); } catch (x) { throw new Error(`${what}: ${x.message.split("\n")[0]} (title: ${await page.textContent("#lesson-title").catch(() => "none")}, position: ${await position().catch(() => "none")})`); }
  };
  const stepsOnce = async (what) => {
    // The lesson kept after a refused file, or (after a refused ?src=) one chosen in the picker.
    const title = await page.$eval("#lesson-title", (e) => e.textContent).catch(() => "");
    if (!title.includes("virtual address")) {
      await page.selectOption("#lesson-picker", "paging-walk");
      await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent?.includes("virtual address") && !document.querySelector(".busy"));
    }
    if (await page.isEnabled("#btn-home")) await page.click("#btn-home");
    await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 0 /"));
    await page.click("#btn-next");
    await page.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 1 /"));
    assert(!(await page.$(".crash")), `${what}: the page crashed`);
  };
  await page.goto(base + "?lesson=paging-walk");
  await page.waitForSelector("#position");
  for (const e of index) {
    await page.setInputFiles("#file-input", join(dir, e.name));
    await page.waitForFunction((name) => (document.querySelector(".error-text") || {}).textContent?.includes(name), e.name, { timeout: 20000 });
    const err = await page.textContent(".error-text");
    assert(err.includes(e.error), `${e.name} (file picker): ${err}`);
    await stillSteps(`${e.name} (file picker)`);
  }
  for (const e of index) {
    await page.goto(base + "?src=" + encodeURIComponent(base + "malformed/" + e.name));
    await page.waitForSelector(".error-text", { timeout: 20000 });
    const err = await page.textContent(".error-text");
    assert(err.includes(e.error), `${e.name} (?src=): ${err}`);
    await stillSteps(`${e.name} (?src=)`);
  }
  metrics.malformed_inputs_checked = index.length * 2;
});

await check("a course page embeds lessons with one tag each (<memsim-lesson>) beside an iframe", async () => {
  await page.goto(base + "course-example.html");
  await page.waitForSelector("#walk #position");
  await page.waitForSelector("#fork #position");
  const pos = (id) => page.$eval(`#${id}`, (el) => el.shadowRoot.querySelector("#position").textContent);
  await page.waitForFunction(() => document.querySelector("#fork").shadowRoot.querySelector("#position").textContent.startsWith("event 60 /"));
  assert((await pos("walk")).startsWith("event 0 /"), await pos("walk"));
  await page.click("#walk #btn-next");
  await page.waitForFunction(() => document.querySelector("#walk").shadowRoot.querySelector("#position").textContent.startsWith("event 1 /"));
  assert((await pos("fork")).startsWith("event 60 /"), "the other lesson stays");
  // The narrator reached the element's events too.
  await page.waitForFunction(() => !document.querySelector("#walk").shadowRoot.querySelector("#event-text").textContent.startsWith("("));
  await page.frameLocator("#exec").locator("#position").waitFor();
  assert(new URL(page.url()).search === "", "the course page's address is left alone");
  await page.screenshot({ path: join(out, "11-course-page.png"), fullPage: true });
});

await check("embed mode drops the site chrome", async () => {
  await page.goto(base + "?lesson=paging-walk&step=10&embed=1");
  await page.waitForSelector("#position");
  assert((await page.$("header.chrome")) === null, "no header");
  await page.setViewportSize({ width: 900, height: 700 });
  await page.screenshot({ path: join(out, "06-embed.png") });
  await page.setViewportSize({ width: 1400, height: 1000 });
});

// Timing: step latency on the largest built-in lesson, measured in the page
// from the key press to the frame that shows the new position.
// Steps forward then back through the lesson shown (at most `limit` each
// way); the time of each until the position updates.
const stepTimes = (limit) => page.evaluate(async (limit) => {
  const pos = () => document.querySelector("#position").textContent;
  const changed = () => new Promise((r) => { const o = new MutationObserver(() => { o.disconnect(); r(performance.now()); }); o.observe(document.querySelector("#position"), { childList: true, characterData: true, subtree: true }); });
  const key = (k) => document.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
  const n = Math.min(limit, parseInt(pos().split("/ ")[1]));
  const t = { forward: [], back: [] };
  for (const [dir, k] of [["forward", "ArrowRight"], ["back", "ArrowLeft"]]) {
    for (let i = 0; i < n; i++) {
      const done = changed(), t0 = performance.now();
      key(k);
      t[dir].push((await done) - t0);
    }
  }
  return t;
}, limit);

// Each part of the views is drawn again only when what it shows changed:
// stepping to an event, forward or back, must leave the page exactly as
// opening that event's permalink does.
await check("the views after stepping equal the views opened at that step", async () => {
  // The views' DOM written out with each element's attributes sorted (the
  // order Yew adds an attribute in is not part of what is shown).
  const views = () => page.evaluate(() => {
    const out = (n) => n.nodeType === 3 ? n.textContent : n.nodeType !== 1 ? "" :
      `<${n.localName}${[...n.attributes].map((a) => ` ${a.name}="${a.value}"`).sort().join("")}>${[...n.childNodes].map(out).join("")}</${n.localName}>`;
    return out(document.querySelector(".views"));
  });
  for (const lesson of ["fork-cow", "exec-elf", "bpf-map-sharing", "handles-vs-pids"]) {
    await page.goto(base + `?lesson=${lesson}&questions=off`);
    await page.waitForSelector("#position");
    await page.waitForFunction(() => globalThis.simNarratorReady);
    const n = parseInt((await position()).split("/ ")[1]);
    const at = [...new Set([1, 2, 5, Math.floor(n / 3), Math.floor(n / 2), n - 1, n].filter((k) => k >= 1 && k <= n))];
    const seen = new Map();
    const stepTo = async (k) => {
      while (!(await position()).startsWith(`event ${k} /`)) {
        const cur = parseInt((await position()).split(" ")[1]);
        await page.keyboard.press(cur < k ? "ArrowRight" : "ArrowLeft");
      }
      await page.waitForTimeout(50);
    };
    // Forward to each, then back down to each: both directions.
    for (const k of at) { await stepTo(k); seen.set(`${k}+`, await views()); }
    for (const k of [...at].reverse()) { await stepTo(k); seen.set(`${k}-`, await views()); }
    for (const k of at) {
      await page.goto(base + `?lesson=${lesson}&questions=off&step=${k}`);
      await page.waitForSelector("#position");
      await page.waitForFunction(() => globalThis.simNarratorReady);
      await page.waitForTimeout(100);
      const fresh = await views();
      for (const dir of ["+", "-"]) {
        const got = seen.get(`${k}${dir}`);
        if (got !== fresh) {
          let i = 0;
          while (i < got.length && got[i] === fresh[i]) i++;
          throw new Error(`${lesson} at event ${k} (${dir === "+" ? "stepped forward" : "stepped back"}) differs from its permalink at ${i}: …${got.slice(Math.max(0, i - 80), i + 120)}… vs …${fresh.slice(Math.max(0, i - 80), i + 120)}…`);
        }
      }
    }
  }
});

await check("step timing on the largest lesson", async () => {
  await page.goto(base + "?lesson=exec-elf");
  await page.waitForSelector("#position");
  const times = await stepTimes(1e9);
  metrics.step_forward_p95_ms = p95(times.forward);
  metrics.step_back_p95_ms = p95(times.back);
  metrics.steps_measured = times.forward.length;
});

// 40 random scrubber moves in the lesson shown; the time of each until the
// position updates.
const jumps = (seed) => page.evaluate(async (seed) => {
  const pos = () => document.querySelector("#position").textContent;
  const changed = () => new Promise((r) => { const o = new MutationObserver(() => { o.disconnect(); r(performance.now()); }); o.observe(document.querySelector("#position"), { childList: true, characterData: true, subtree: true }); });
  const s = document.querySelector("#scrubber");
  const n = parseInt(pos().split("/ ")[1]);
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const times = [];
  for (let i = 0; i < 40; i++) {
    const target = Math.floor(rnd() * n);
    if (pos().startsWith(`event ${target} /`)) continue;
    const done = changed(), t0 = performance.now();
    s.value = String(target);
    s.dispatchEvent(new Event("input", { bubbles: true }));
    times.push((await done) - t0);
  }
  return { n, times };
}, seed);

// Jumps in a recording of about a million events (written by `cargo xtask test`).
await check("jumps in a 1,000,000-event recording", async () => {
  const t0 = Date.now();
  await page.goto(base + "?lesson=e2e-1m");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent === "A million events", null, { timeout: 120000 });
  metrics.trace_1m_load_ms = Date.now() - t0;
  // The lesson picker names the recording that is open, not the first lesson of its list.
  const picked = await page.evaluate(() => {
    const s = document.querySelector("#lesson-picker");
    return s ? [s.value, s.options[s.selectedIndex].textContent] : null;
  });
  assert(picked && picked[0] === "e2e-1m" && picked[1].includes("A million events"), `the picker shows ${picked}`);
  // The rest of its events are read behind the page; the jumps are timed
  // once every one has been (a jump past them meanwhile waits for them).
  await page.waitForFunction(() => !document.querySelector("#building"), null, { timeout: 120000 });
  metrics.trace_1m_built_ms = Date.now() - t0;
  const r = await jumps(11);
  assert(r.n >= 1000000, `recording has ${r.n} events`);
  metrics.trace_1m_events = r.n;
  metrics.jump_1m_p95_ms = p95(r.times);
  metrics.jump_1m_max_ms = Math.max(...r.times);
  await page.screenshot({ path: join(out, "08-million-events.png") });
});

// The same steps and jumps with the CPU throttled 4x (DevTools protocol), as
// on a student's slow laptop; and the page at a phone's width.
await check("steps and jumps with the CPU throttled 4x", async () => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  try {
    // First render on a slow laptop: navigation until the lesson is shown,
    // for the largest recording of a built-in lesson and for exec-elf.
    let t0 = Date.now();
    await page.goto(base + "?lesson=who-maps-libc");
    await page.waitForSelector("#position");
    metrics.throttled_first_render_largest_ms = Date.now() - t0;
    t0 = Date.now();
    await page.goto(base + "?lesson=exec-elf");
    await page.waitForSelector("#position");
    metrics.throttled_first_render_ms = Date.now() - t0;
    let t = await stepTimes(1e9);
    metrics.throttled_step_forward_p95_ms = p95(t.forward);
    metrics.throttled_step_back_p95_ms = p95(t.back);
    await page.goto(base + "?lesson=mcu-startup");
    await page.waitForSelector("#position");
    t = await stepTimes(300);
    metrics.throttled_mcu_step_forward_p95_ms = p95(t.forward);
    metrics.throttled_mcu_step_back_p95_ms = p95(t.back);
    t0 = Date.now();
    await page.goto(base + "?lesson=e2e-1m");
    await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent === "A million events", null, { timeout: 240000 });
    metrics.throttled_trace_1m_load_ms = Date.now() - t0;
    await page.waitForFunction(() => !document.querySelector("#building"), null, { timeout: 240000 });
    metrics.throttled_trace_1m_built_ms = Date.now() - t0;
    const r = await jumps(13);
    metrics.throttled_jump_1m_p95_ms = p95(r.times);
  } finally {
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  }
});

await check("a phone-width page still shows the lesson", async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  try {
    await page.goto(base + "?lesson=fork-cow&step=60");
    await page.waitForSelector("#position");
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    metrics.narrow_scroll_width = wide;
    await page.screenshot({ path: join(out, "11-narrow.png"), fullPage: false });
  } finally {
    await page.setViewportSize({ width: 1400, height: 1000 });
  }
});

// Jumps in a 10,000-event trace, loaded by paste: random scrubber moves.
// Jumps: in a trace of about 10,000 events (the budget's size) and in one twice as long.
for (const [writes, key] of [[700, "10k"], [1400, "20k"]]) {
await check(`jumps in a ${key === "10k" ? "10,000" : "20,000"}-event trace`, async () => {
  let toml = 'id = "big"\ntitle = "Ten thousand events"\nsummary = "s"\n[[steps]]\nsay = "a"\ndo = { op = "spawn", name = "p" }\n';
  toml += '[[steps]]\nsay = "m"\ndo = { op = "mmap", pid = 1, addr = 0x10000000, len = 0x4000000 }\n';
  for (let i = 0; i < writes; i++) toml += `[[steps]]\nsay = "w"\ndo = { op = "write", pid = 1, addr = ${0x10000000 + i * 4096 * 3}, value = ${i} }\n`;
  await page.goto(base + "?lesson=paging-walk");
  await page.waitForSelector("#position");
  await page.evaluate((t) => { document.querySelector("details.paste").open = true; document.querySelector("#paste-box").value = t; }, toml);
  const t0 = Date.now();
  await page.click("#paste-run");
  await page.waitForFunction(() => (document.querySelector("#lesson-title") || {}).textContent === "Ten thousand events", null, { timeout: 60000 });
  metrics.big_trace_load_ms = Date.now() - t0;
  const r = await jumps(7);
  assert(r.n >= (key === "10k" ? 9500 : 19000), `trace has ${r.n} events`);
  metrics[`trace_${key}_events`] = r.n;
  metrics[`trace_${key}_load_ms`] = metrics.big_trace_load_ms;
  metrics[`jump_${key}_p95_ms`] = p95(r.times);
  metrics[`jump_${key}_max_ms`] = Math.max(...r.times);
  if (key === "20k") await page.screenshot({ path: join(out, "07-big-trace.png") });
});
}

await check("no serious accessibility violations (axe-core)", async () => {
  const axePath = join(root, "tools", "node_modules", "axe-core", "axe.min.js");
  const found = [];
  for (const url of [base + "?lesson=paging-walk&step=15", base + "?lesson=fork-cow&step=36", base + "?lesson=bpf-map-sharing&step=40", base + "?lesson=mcu-startup&step=20", base + "?lesson=handles-vs-pids&step=10"]) {
    await page.goto(url);
    await page.waitForSelector("#position");
    // Everything drawn: the pictures and object tables come with the narrator module.
    await page.waitForFunction(() => globalThis.simNarratorReady);
    await page.waitForTimeout(200);
    await page.addScriptTag({ path: axePath });
    const r = await page.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations);
    for (const v of r.filter((v) => v.impact === "serious" || v.impact === "critical")) {
      found.push(`${url}: ${v.id} (${v.impact}): ${v.help}; ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    }
  }
  metrics.axe_serious = found.length;
  assert(found.length === 0, found.join("\n"));
});

// The narrator module draws the BPF and Windows tables: when it cannot be
// fetched, the page says so where they would be, and the lesson still steps.
await check("without the narrator module the page says what it cannot draw and still steps", async () => {
  const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await other.route("**/narrator/**", (r) => r.abort());
    await other.goto(base + "?lesson=bpf-who-creates-map&step=5&questions=off");
    await other.waitForFunction(() => (document.querySelector(".view.bpf") || {}).textContent?.includes("could not be drawn"), null, { timeout: 10000 });
    await other.keyboard.press("ArrowRight");
    await other.waitForFunction(() => document.querySelector("#position").textContent.startsWith("event 6 /"));
    assert((await other.textContent(".view.bpf")).includes("narrator module did not load"), await other.textContent(".view.bpf"));
  } finally {
    await other.close();
  }
});

await check("no uncaught errors in the page, no favicon 404, no passive-listener errors", async () => {
  assert(errors.length === 0, errors.join("\n"));
  assert(noise.length === 0, noise.join("\n"));
});

await browser.close();
writeFileSync(join(out, "metrics.json"), JSON.stringify(metrics, null, 2));
console.log("metrics:", JSON.stringify(metrics));
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
