//! The page's viewer reads recordings with their event records sealed and
//! gets the words from the narrator module; for every event of every
//! built-in lesson those words are the ones the native run prints.

use scenarios::{Recording, SealedRecording};

#[test]
fn sealed_records_are_narrated_as_the_native_run_says_them() {
    for lesson in scenarios::builtin_lessons() {
        let lesson = lesson.expect("built-in lesson");
        let run = scenarios::open::builtin(&lesson.id).expect("runs");
        let bytes = Recording::from(run).encode();
        let native = Recording::decode(&bytes).expect("decodes");
        let sealed = SealedRecording::decode_sealed(&bytes).expect("decodes sealed");
        let (mut a, mut b) = (native.timeline.clone(), sealed.timeline.clone());
        assert_eq!(a.len(), b.len());
        for i in 0..a.len() {
            a.seek(i + 1);
            b.seek(i + 1);
            let (n, s) = (a.event(i).expect("native event"), b.event(i).expect("sealed event"));
            let board = if sim_core::What::sealed_is_mcu(&s.what) { s.board_before(b.state()) } else { None };
            let (text, mechanism) = sim_core::narrate(&s.what.bytes, board.as_deref());
            assert_eq!(text, n.text_after(a.state()), "{} event {i}", lesson.id);
            assert_eq!(mechanism, n.mechanism(), "{} event {i}", lesson.id);
            assert_eq!(s.kind(), n.kind(), "{} event {i}", lesson.id);
            assert_eq!(s.focus_all(), n.focus_all(), "{} event {i}", lesson.id);
        }
    }
}
