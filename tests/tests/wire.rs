//! The recordings the page reads: a decoded recording must equal the run it
//! was made from at every event, forward and back, and corrupt bytes must
//! give an error, never a panic.

use scenarios::lesson::BUILTIN;
use scenarios::Recording;
use sim_core::wire::WireError;

fn recording(id: &str) -> Recording {
    let lesson = scenarios::builtin(id).expect("registered").expect("parses");
    Recording::from(scenarios::run(&lesson).expect("runs"))
}

#[test]
fn a_decoded_recording_is_the_same_run_at_every_event() {
    for (id, _) in BUILTIN {
        let rec = recording(id);
        let bytes = rec.encode();
        let back = Recording::decode(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!((&back.id, &back.title, &back.summary, &back.question), (&rec.id, &rec.title, &rec.summary, &rec.question));
        assert_eq!(back.steps, rec.steps, "{id}: step records (with their events refilled from the timeline)");
        let all = |t: &sim_core::Timeline| t.events(0, t.len()).collect::<Vec<_>>();
        assert_eq!(all(&back.timeline), all(&rec.timeline), "{id}: events with their deltas");
        let (mut a, mut b) = (rec.timeline.clone(), back.timeline.clone());
        assert_eq!((b.position(), b.state()), (0, b.initial()), "{id}: a timeline read back stands at its start");
        b.seek(b.len());
        assert_eq!(a.state(), b.state(), "{id}: both end at the last event");
        // Built part by part as a page builds it, then moved: the same states.
        let mut c = back.timeline.clone();
        while !c.build(1000).expect("builds") {
            assert!(c.built() < c.len());
        }
        for n in (0..=a.len()).rev() {
            a.seek(n);
            c.seek(n);
            assert_eq!(a.state(), c.state(), "{id}: state after {n} events, built in parts");
        }
        for n in 0..=a.len() {
            a.seek(n);
            b.seek(n);
            assert_eq!(a.state(), b.state(), "{id}: state after {n} events");
            assert_eq!(a.state().linux.files, b.state().linux.files, "{id}: files after {n} events");
        }
        // Backwards, one event at a time, from the end.
        b.seek(b.len());
        a.seek(a.len());
        while b.step_back() {
            a.step_back();
            assert_eq!(a.state(), b.state(), "{id}: stepping back to {}", b.position());
        }
        // The encoding is deterministic.
        assert_eq!(bytes, back.encode(), "{id}: re-encoding gives the same bytes");
    }
}

/// What an event points at is written straight from the record's fields
/// (no list is collected when it is encoded): the page, which reads it
/// from the bytes, must see what the record itself names.
#[test]
fn an_encoded_event_points_where_its_record_does() {
    use sim_core::journal::Points;
    use sim_core::wire::{Reader, Wire};
    let mut seen = 0;
    for (id, _) in BUILTIN {
        let rec = recording(id);
        let t = &rec.timeline;
        for i in 0..t.len() {
            let e = t.event(i).expect("decodes");
            let sealed = sim_core::SealedEvent::get(&mut Reader::new(t.encoded(i))).unwrap_or_else(|err| panic!("{id}: event {i}: {err}"));
            assert_eq!(sealed.what.focus, e.what.focus(), "{id}: event {i} ({})", e.text());
            seen += usize::from(!sealed.what.focus.is_empty());
        }
    }
    assert!(seen > 100, "events that point at something: {seen}");
}

/// Frame contents, RAM and files are carried too (the JSON view leaves them out).
#[test]
fn bulky_state_travels_whole() {
    let rec = recording("mcu-startup");
    let mut tl = Recording::decode(&rec.encode()).expect("decodes").timeline;
    tl.seek(tl.len());
    let mcu = tl.state().mcu.as_ref().expect("the lesson has a microcontroller");
    assert!(!mcu.flash.is_empty() && !mcu.ram.is_empty());
    let orig = rec.timeline.state().mcu.as_ref().expect("mcu");
    assert_eq!((&mcu.flash, &mcu.ram), (&orig.flash, &orig.ram));
    let fork = recording("fork-cow");
    let mut decoded = Recording::decode(&fork.encode()).expect("decodes");
    decoded.timeline.seek(decoded.timeline.len());
    let with_data = |s: &sim_core::State| s.linux.frames.values().filter(|f| f.data.is_some()).count();
    assert!(with_data(decoded.timeline.state()) > 0);
    assert_eq!(with_data(decoded.timeline.state()), with_data(fork.timeline.state()));
}

#[test]
fn corrupt_recordings_are_errors() {
    let bytes = recording("bpf-map-sharing").encode();
    assert_eq!(Recording::decode(b"not a recording").err(), Some(WireError::Magic));
    assert_eq!(Recording::decode(&[]).err(), Some(WireError::Magic));
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(Recording::decode(&extra).err(), Some(WireError::Trailing(1)));
    // Every truncation (a sample of lengths) fails with an error.
    let step = (bytes.len() / 500).max(1);
    for n in (0..bytes.len()).step_by(step) {
        assert!(Recording::decode(&bytes[..n]).is_err(), "truncated to {n} bytes");
    }
    // Flipped bytes: an error or a (different) recording, never a panic or a hang.
    let mut x = 0x9e37_79b9u32;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut b = bytes.clone();
        let i = 8 + (x as usize) % (b.len() - 8);
        b[i] ^= (x >> 24) as u8 | 1;
        let _ = Recording::decode(&b);
    }
    // A length prefix claiming more than remains is refused before allocating.
    let mut huge = sim_core::wire::MAGIC.to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(Recording::decode(&huge), Err(WireError::Bad { .. })));
}

/// The page reads a recording indexed and builds it as the student looks
/// ([`scenarios::SealedRecording::decode_indexed`]): an event that does not
/// decode is found then, by its index; the events before it stay and
/// nothing past it is applied.
#[test]
fn an_event_that_does_not_decode_ends_the_timeline_where_it_is() {
    let rec = recording("fork-cow");
    let t = &rec.timeline;
    let k = t.len() / 2;
    let varint = |v: usize| {
        let mut b = Vec::new();
        sim_core::wire::put_varint(&mut b, v as u64);
        b
    };
    // Event k as written (its length, its bytes), then event k + 1.
    let (a, b) = (t.encoded(k), t.encoded(k + 1));
    let next = [varint(t.op_of(k + 1).expect("op")), varint(b.len()), b.to_vec()].concat();
    let whole = [varint(a.len()), a.to_vec(), next.clone()].concat();
    // Event k one byte short: its last delta ends early.
    let short = [varint(a.len() - 1), a[..a.len() - 1].to_vec(), next].concat();
    let bytes = rec.encode();
    let at: Vec<usize> = (0..bytes.len() - whole.len()).filter(|&i| bytes[i..].starts_with(&whole)).collect();
    assert_eq!(at.len(), 1, "event {k} is found once in the encoding");
    let damaged = [&bytes[..at[0]], &short[..], &bytes[at[0] + whole.len()..]].concat();
    let is_k = |e: &WireError| matches!(e, WireError::InEvent { event, .. } if *event == k);
    let err = Recording::decode(&damaged).expect_err("a damaged event is an error");
    assert!(is_k(&err), "{err}");
    let mut tl = scenarios::SealedRecording::decode_indexed(&damaged).expect("indexes").timeline;
    let mut orig = t.clone();
    tl.seek(k);
    orig.seek(k);
    assert_eq!(tl.state(), orig.state(), "the events before the damaged one");
    tl.seek(usize::MAX);
    assert_eq!((tl.len(), tl.position()), (k, k), "the timeline ends before the damaged event");
    assert!(!tl.step_forward());
    let err = tl.build(usize::MAX).expect_err("the damage is reported");
    assert!(is_k(&err) && err.to_string().starts_with(&format!("event {k} of the recording: ")), "{err}");
}

#[test]
fn recordings_are_small() {
    for (id, _) in BUILTIN {
        let n = recording(id).encode().len();
        println!("{id}: {n} bytes");
        assert!(n < 4 << 20, "{id}: {n} bytes");
    }
}
