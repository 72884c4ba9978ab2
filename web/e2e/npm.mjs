// The npm package, as a course site installs it (cargo xtask e2e packs
// web/dist, installs the tarball into SITE_DIR and serves it at SITE_URL):
// two <memsim-lesson> elements and an iframe in one page, each stepping on
// its own; and `memsim check` in Node on every built-in lesson and the
// instructor example, with the output and exit code of `scenarios run`.
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, "tools", "package.json"));
const { chromium } = require("playwright-core");
const site = process.env.SITE_URL, dir = process.env.SITE_DIR, scenarios = process.env.SCENARIOS_BIN;
let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); } catch (e) { failed++; console.log(`FAIL ${name}: ${e.message}`); }
}
function assert(c, m) { if (!c) throw new Error(m); }
const memsim = join(dir, "node_modules", ".bin", "memsim");
const run = (cmd, args) => { const r = spawnSync(cmd, args, { encoding: "utf8" }); return { code: r.status, out: r.stdout, err: r.stderr }; };

await check("memsim check passes every built-in lesson, as scenarios run does", async () => {
  const lessons = readdirSync(join(root, "scenarios", "lessons")).filter((f) => f.endsWith(".toml"));
  assert(lessons.length >= 12, `${lessons.length} lessons`);
  for (const f of lessons) {
    const p = join(root, "scenarios", "lessons", f);
    const ours = run(memsim, ["check", p]), theirs = run(scenarios, ["run", p]);
    assert(ours.code === 0, `${f}: exit ${ours.code}: ${ours.err}`);
    assert(ours.out === theirs.out, `${f}: the trace differs from scenarios run's`);
  }
});

await check("an instructor's lesson with src files: the same result, and the same failure when broken", async () => {
  const ex = join(root, "examples", "instructor");
  const ok = run(memsim, ["check", join(ex, "lesson.toml")]);
  assert(ok.code === 0 && ok.out.includes("10 of 10 expectations hold"), `exit ${ok.code}: ${ok.err}`);
  const tmp = mkdtempSync(join(tmpdir(), "memsim-"));
  cpSync(ex, tmp, { recursive: true });
  const broken = join(tmp, "lesson.toml");
  writeFileSync(broken, readFileSync(broken, "utf8").replace('symbol = "toggles", value = 4', 'symbol = "toggles", value = 5'));
  const ours = run(memsim, ["check", broken]), theirs = run(scenarios, ["run", broken]);
  assert(ours.code === 1 && theirs.code === 1, `exit ${ours.code} / ${theirs.code}`);
  assert(ours.err === theirs.err && ours.err.includes("expectation failed: toggles is 0x5 (found: 0x4)"), `memsim: ${ours.err}\nscenarios: ${theirs.err}`);
  assert(ours.out === theirs.out, "the same trace");
  // A file beside it that is not there: exit 2, the same message.
  rmSync(join(tmp, "blink.elf"));
  const gone = run(memsim, ["check", broken]), gone2 = run(scenarios, ["run", broken]);
  assert(gone.code === 2 && gone.err === gone2.err, `memsim: ${gone.code} ${gone.err}\nscenarios: ${gone2.code} ${gone2.err}`);
  // A lesson that does not parse: exit 2, file:line:column, as scenarios run.
  writeFileSync(broken, "id = \"x\"\ntitle = 3\n");
  const bad = run(memsim, ["check", broken]), bad2 = run(scenarios, ["run", broken]);
  assert(bad.code === 2 && bad.err === bad2.err, `memsim: ${bad.code} ${bad.err}\nscenarios: ${bad2.code} ${bad2.err}`);
});

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

await check("a course page with the package: two elements and an iframe, each stepping on its own", async () => {
  await page.goto(site);
  await page.waitForFunction(() => window.memsimReady === true);
  // Playwright's selectors pierce open shadow roots.
  await page.waitForSelector("#a #position");
  await page.waitForSelector("#b #position");
  const pos = (id) => page.$eval(`#${id}`, (el) => el.shadowRoot.querySelector("#position").textContent);
  assert((await pos("a")).startsWith("event 60 /"), await pos("a"));
  assert((await pos("b")).startsWith("event 0 /"), await pos("b"));
  await page.click("#b #btn-next");
  await page.waitForFunction(() => document.querySelector("#b").shadowRoot.querySelector("#position").textContent.startsWith("event 1 /"));
  assert((await pos("a")).startsWith("event 60 /"), "the other lesson did not move");
  // Keys act on the lesson that has focus only.
  await page.focus("#a");
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.querySelector("#a").shadowRoot.querySelector("#position").textContent.startsWith("event 61 /"));
  assert((await pos("b")).startsWith("event 1 /"), "keys went to the focused lesson only");
  // The JS API: seek, and the memsim-step events it causes.
  await page.$eval("#b", (el) => el.seek(5));
  await page.waitForFunction(() => document.querySelector("#b").position === 5);
  const steps = await page.evaluate(() => window.steps);
  assert(steps.some(([id, p]) => id === "b" && p === 5) && steps.some(([id, p]) => id === "a" && p === 61), JSON.stringify(steps));
  // Styles stay inside: the page's own h1 is not the lesson's.
  const h1 = await page.$eval("h1", (e) => getComputedStyle(e).fontSize);
  assert(h1 !== "", h1);
  const frame = page.frameLocator("#c");
  await frame.locator("#position").waitFor();
  assert((await frame.locator("#lesson-title").textContent()).includes("exec"), "the iframe's lesson");
  await page.screenshot({ path: join(root, "target", "e2e", "12-npm-course-site.png"), fullPage: true });
  assert(errors.length === 0, errors.join("\n"));
});

await browser.close();
console.log(`npm: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
