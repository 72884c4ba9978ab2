//! Seeded exercises, in the manner of OSTEP's homework generators: a lesson
//! made from a seed, with questions whose right answers the simulation
//! finds. The same seed gives the same lesson (`?lesson=ID&seed=N` in the
//! page, `scenarios exercise ID N` on the command line).
//!
//! - `exercise-translate`: a process on the teaching-16 machine (2 levels,
//!   16-bit addresses, 256-byte pages) touches some pages of a mapping;
//!   the student translates two virtual addresses into physical ones.
//! - `exercise-fork`: a parent writes some pages, forks, and parent and
//!   child write in a random order; the student counts the anonymous
//!   frames after each copy-on-write fault.

use crate::lesson::{parse_lesson, Lesson};
use std::fmt::Write;

/// The exercises: (id, what it practises).
pub const EXERCISES: &[(&str, &str)] = &[
    ("exercise-translate", "translate virtual addresses into physical ones on a two-level page table"),
    ("exercise-fork", "count frames through fork and copy-on-write faults"),
];

/// splitmix64: a small generator whose stream depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `v` in a seeded order.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// The exercise `id` for `seed`, or why there is none.
pub fn generate(id: &str, seed: u64) -> Result<Lesson, String> {
    let text = match id {
        "exercise-translate" => translate(seed)?,
        "exercise-fork" => fork(seed),
        _ => {
            let ids: Vec<&str> = EXERCISES.iter().map(|(i, _)| *i).collect();
            return Err(format!("no exercise `{id}`; the exercises are {}", ids.join(", ")));
        }
    };
    parse_lesson(&text).map_err(|e| format!("{id} (seed {seed}): {e}"))
}

/// The lesson text of `id` for `seed` (what `scenarios exercise` prints).
pub fn text(id: &str, seed: u64) -> Result<String, String> {
    match id {
        "exercise-translate" => translate(seed),
        "exercise-fork" => Ok(fork(seed)),
        _ => generate(id, seed).map(|_| String::new()),
    }
}

fn head(id: &str, title: &str, summary: &str, seed: u64, paging: &str) -> String {
    format!(
        "id = \"{id}\"\ntitle = \"{title} (seed {seed})\"\nsummary = \"{summary}\"\nquestion = \"A seeded exercise: the same seed gives the same one; another seed, another.\"\n\n[machine]\npaging = \"{paging}\"\ntlb_entries = 4\n\n[[steps]]\nsay = \"A process starts.\"\ndo = {{ op = \"spawn\", name = \"student\" }}\n"
    )
}

/// The translation exercise: eight pages mapped at a seeded base, three
/// of them written in a seeded order (so their frames are allocated in
/// that order), then two reads to translate. The choices are the address
/// with each written page's frame, and the virtual address itself.
fn translate(seed: u64) -> Result<String, String> {
    const PAGE: u64 = 256;
    let mut r = Rng(seed);
    let base = (0x10 + r.below(0x90)) * PAGE;
    let mut pages: Vec<u64> = (0..8).collect();
    r.shuffle(&mut pages);
    let written = &pages[..3];
    let mut t = head(
        "exercise-translate",
        "Translate two addresses",
        "Pages get frames in the order they are first written; a virtual address is its page's frame plus the offset.",
        seed,
        "teaching-16",
    );
    let _ = write!(
        t,
        "\n[[steps]]\nsay = \"It maps eight pages at {base:#x} (256 bytes each). None has a frame yet.\"\ndo = {{ op = \"mmap\", pid = 1, addr = {base:#x}, len = {}, prot = \"rw-\" }}\n",
        8 * PAGE
    );
    for p in written {
        let va = base + p * PAGE;
        let _ = write!(
            t,
            "\n[[steps]]\nsay = \"It writes to page {va:#x}: a page fault gives the page a frame.\"\ndo = {{ op = \"write\", pid = 1, addr = {va:#x}, value = {} }}\n",
            p + 1
        );
    }
    // The frames the writes got, found by running the lesson so far.
    let lesson = parse_lesson(&t).map_err(|e| e.to_string())?;
    let run = crate::runner::run(&lesson).map_err(|e| e.to_string())?;
    let st = run.timeline.state();
    let fmt = st.linux.format;
    let frame_of = |va: u64| st.linux.leaf(sim_core::Pid(1), sim_core::VirtAddr(va)).map(|(_, _, e)| fmt.pte_pfn(e).0);
    let frames: Vec<u64> = written.iter().filter_map(|p| frame_of(base + p * PAGE)).collect();
    if frames.len() != written.len() {
        return Err("the exercise's pages did not get frames".into());
    }
    let first = r.below(3);
    let second = (first + 1 + r.below(2)) % 3;
    for (n, k) in [first, second].into_iter().enumerate() {
        let page = written[k as usize];
        let va = base + page * PAGE + r.below(PAGE);
        let mut choices: Vec<(String, u64)> =
            frames.iter().map(|f| (format!("{:#x}", f * PAGE + va % PAGE), f * PAGE + va % PAGE)).collect();
        if !choices.iter().any(|(_, pa)| *pa == va) {
            choices.push((format!("{va:#x}: the same as the virtual address"), va));
        }
        r.shuffle(&mut choices);
        let list: Vec<String> = choices
            .iter()
            .map(|(text, pa)| format!("  {{ text = \"{text}\", check = \"physical\", pid = 1, addr = {va:#x}, equals = {pa:#x} }},"))
            .collect();
        let _ = write!(
            t,
            "\n[[steps]]\nsay = \"It reads {va:#x}{}.\"\ndo = {{ op = \"read\", pid = 1, addr = {va:#x}, len = 1 }}\n[steps.ask]\nquestion = \"Process 1 reads virtual address {va:#x}. Which physical address does the MMU make of it?\"\nchoices = [\n{}\n]\nwhy = \"A page is {PAGE} bytes, so {va:#x} is offset {:#x} in page {:#x}. The page's entry (found by the TLB, or on a miss by the walk: the top-level index, then the second-level index) names the frame the page's first write got; the physical address is frame x {PAGE} + offset.\"\n",
            if n == 0 { "" } else { " as well" },
            list.join("\n"),
            va % PAGE,
            va - va % PAGE
        );
    }
    Ok(t)
}

/// The fork exercise: four pages, some written before fork, then writes
/// by parent and child in a seeded order; after the last write the
/// student counts anonymous frames.
fn fork(seed: u64) -> String {
    const PAGE: u64 = 4096;
    let mut r = Rng(seed);
    let base = 0x1000_0000u64;
    let before = 1 + r.below(4);
    let mut t = head(
        "exercise-fork",
        "Count the frames through fork",
        "fork shares frames read-only; the first write to a shared page copies it, unless nobody else maps it any more.",
        seed,
        "x86-64",
    );
    let _ = write!(
        t,
        "\n[[steps]]\nsay = \"It maps four pages.\"\ndo = {{ op = \"mmap\", pid = 1, addr = {base:#x}, len = {}, prot = \"rw-\" }}\n",
        4 * PAGE
    );
    for p in 0..before {
        let _ = write!(
            t,
            "\n[[steps]]\nsay = \"The parent writes page {p}.\"\ndo = {{ op = \"write\", pid = 1, addr = {:#x}, value = {} }}\n",
            base + p * PAGE,
            p + 1
        );
    }
    let _ = write!(
        t,
        "\n[[steps]]\nsay = \"It forks.\"\ndo = {{ op = \"fork\", pid = 1 }}\n[steps.ask]\nquestion = \"The parent has written {before} of its 4 pages. How many anonymous frames are in use right after fork?\"\nchoices = [\n{}\n]\nwhy = \"fork copies the page-table entries of the pages that have frames and makes both read-only (copy_present_pte); no page is copied, and the untouched pages still have none.\"\n",
        counts(before, &mut r)
    );
    let writes = 2 + r.below(2);
    for w in 0..writes {
        let pid = 1 + r.below(2);
        let p = r.below(before + 1).min(3);
        let who = if pid == 1 { "parent" } else { "child" };
        let _ = write!(
            t,
            "\n[[steps]]\nsay = \"The {who} writes page {p}.\"\ndo = {{ op = \"write\", pid = {pid}, addr = {:#x}, value = {} }}\n",
            base + p * PAGE,
            100 + w
        );
        if w + 1 == writes {
            let _ = write!(
                t,
                "[steps.ask]\nquestion = \"After this write by the {who} to page {p}, how many anonymous frames are in use?\"\nchoices = [\n{}\n]\nwhy = \"A write to a shared read-only page faults: do_wp_page copies the page when another process still maps the frame (wp_page_copy) and reuses it when the writer is the last (wp_can_reuse_anon_folio). A write to a page with no frame yet gets a new zeroed frame.\"\n",
                counts(before, &mut r)
            );
        }
    }
    t
}

/// Choices for "how many anonymous frames": every count from `lo` to
/// `lo + 4` (one of them is right: each write adds at most one frame).
fn counts(lo: u64, r: &mut Rng) -> String {
    let mut v: Vec<u64> = (lo..=lo + 4).collect();
    r.shuffle(&mut v);
    v.iter().map(|n| format!("  {{ text = \"{n}\", check = \"frames\", kind = \"anon\", equals = {n} }},")).collect::<Vec<_>>().join("\n")
}
