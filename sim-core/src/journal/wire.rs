//! A compact binary encoding of recorded runs.
//!
//! A run is computed once (by the build for the built-in lessons, or by the
//! engine module the page loads when a student opens a file of their own)
//! and viewed elsewhere: the page decodes the initial state and the events
//! with their deltas and steps through them without the simulator itself.
//! Serde's derives on these types describe the JSON a person reads, which
//! leaves out bulky fields (frame bytes, files, instructions); this encoding
//! carries everything, so a decoded timeline equals the recorded one at every
//! position.
//!
//! Integers are LEB128 varints (signed ones zigzagged), strings and
//! sequences are length-prefixed, enums are a tag byte followed by their
//! fields. Every length is checked against the bytes that remain, so a
//! corrupt input ends in a [`WireError`], never in a panic or a huge
//! allocation.

use super::{Event, EventKind, Sealed, Timeline, Undo};

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// First bytes of every encoded recording, with the format's version.
pub const MAGIC: &[u8; 8] = b"SIMTRC\x00\x0d";

/// Why bytes could not be decoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// The bytes ended in the middle of a value.
    #[error("the recording is truncated at byte {0}")]
    Truncated(usize),
    /// An enum tag that no variant has.
    #[error("byte {at}: {tag} is not a valid {what}")]
    BadTag {
        /// The type being read.
        what: &'static str,
        /// The tag found.
        tag: u8,
        /// Where.
        at: usize,
    },
    /// A string that is not UTF-8, or a number out of range.
    #[error("byte {at}: {what}")]
    Bad {
        /// What was wrong.
        what: &'static str,
        /// Where.
        at: usize,
    },
    /// Not a recording, or one from another version of the simulator.
    #[error("not a recording of this simulator version (rebuild the lesson traces)")]
    Magic,
    /// Bytes left over after the last value.
    #[error("{0} unexpected bytes after the recording")]
    Trailing(usize),
    /// A recorded event that is not one (found when the timeline is built:
    /// the events before it stay).
    #[error("event {event} of the recording: {cause}")]
    InEvent {
        /// Its index.
        event: usize,
        /// What was wrong, at a byte of the event's own encoding.
        cause: Box<WireError>,
    },
}

/// A cursor over encoded bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the first byte.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, WireError> {
        // A match, not `ok_or`: the error is built only when the bytes end
        // (an eager one is built and dropped for every byte read).
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(WireError::Truncated(self.pos)),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::Truncated(self.buf.len()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// An unsigned LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let at = self.pos;
        // Most numbers in a recording fit in one byte.
        if let Some(&b) = self.buf.get(at).filter(|b| **b < 0x80) {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Bad { what: "varint longer than 64 bits", at })
    }

    /// A length prefix, checked against what remains: each of `n` elements
    /// takes at least one byte, so a larger count is corrupt.
    pub fn length(&mut self) -> Result<usize, WireError> {
        let at = self.pos;
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(WireError::Bad { what: "length longer than the rest of the recording", at });
        }
        Ok(n as usize)
    }

    /// A tag byte, for enums.
    pub fn tag(&mut self) -> Result<(u8, usize), WireError> {
        let at = self.pos;
        Ok((self.byte()?, at))
    }
}

/// A value that can be written to and read back from the encoding.
pub trait Wire: Sized {
    /// Appends the encoding of `self`.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads one value.
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError>;
    /// Reads past one value without keeping it (types whose decoding
    /// allocates read past it without allocating).
    fn skip(r: &mut Reader<'_>) -> Result<(), WireError> {
        Self::get(r).map(drop)
    }
}

/// Reads one field: [`Wire::get`], kept out of line with the `small`
/// feature (the viewer's: the decoders the record macros generate are then
/// a call per field, not each field's code again, and the page's first
/// download decodes every record kind); inlined in the engine and native
/// builds, where decoding a recorded run's deltas is time.
#[cfg_attr(feature = "small", inline(never))]
pub fn field<T: Wire>(r: &mut Reader<'_>) -> Result<T, WireError> {
    T::get(r)
}

/// Appends an unsigned LEB128 varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    // Room for the longest once, then each byte pushed within it.
    out.reserve(10);
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

macro_rules! wire_unsigned {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                put_varint(out, *self as u64);
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
                let at = r.pos;
                <$t>::try_from(r.varint()?).map_err(|_| WireError::Bad { what: concat!("number too large for ", stringify!($t)), at })
            }
        }
    )*};
}
wire_unsigned!(u16, u32, u64, usize);

impl Wire for u8 {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.byte()
    }
}

impl Wire for i32 {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, ((*self << 1) ^ (*self >> 31)) as u32 as u64);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let z = u32::get(r)?;
        Ok(((z >> 1) as i32) ^ -((z & 1) as i32))
    }
}

impl Wire for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.tag()? {
            (0, _) => Ok(false),
            (1, _) => Ok(true),
            (tag, at) => Err(WireError::BadTag { what: "bool", tag, at }),
        }
    }
}

impl Wire for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = r.length()?;
        let at = r.pos;
        String::from_utf8(r.take(n)?.to_vec()).map_err(|_| WireError::Bad { what: "text that is not UTF-8", at })
    }
}

impl Wire for Cow<'static, str> {
    fn put(&self, out: &mut Vec<u8>) {
        self.to_string().put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Cow::Owned(String::get(r)?))
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        self.iter().for_each(|x| x.put(out));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = r.length()?;
        (0..n).map(|_| T::get(r)).collect()
    }
    fn skip(r: &mut Reader<'_>) -> Result<(), WireError> {
        let n = r.length()?;
        (0..n).try_for_each(|_| T::skip(r))
    }
}

impl<T: Wire + Default, const N: usize> Wire for [T; N] {
    fn put(&self, out: &mut Vec<u8>) {
        self.iter().for_each(|x| x.put(out));
    }
    /// Read in place (no vector per array: a recorded instruction's flags
    /// are one); after the first error the rest is not read.
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut failed = None;
        let a = std::array::from_fn(|_| match failed {
            Some(_) => T::default(),
            None => T::get(r).unwrap_or_else(|e| {
                failed = Some(e);
                T::default()
            }),
        });
        failed.map_or(Ok(a), Err)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.put(out);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.tag()? {
            (0, _) => Ok(None),
            (1, _) => Ok(Some(T::get(r)?)),
            (tag, at) => Err(WireError::BadTag { what: "option", tag, at }),
        }
    }
}

impl<T: Wire> Wire for Box<T> {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        T::get(r).map(Box::new)
    }
}

impl<T: Wire> Wire for Arc<T> {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        T::get(r).map(Arc::new)
    }
}

/// Writes bytes as their length and the `chunk`-sized pieces that are not
/// all `fill`, each with its index: a file shipped in part (its code left
/// out as zeros), or a flash mostly erased (0xff), costs only what it holds.
pub fn put_sparse(out: &mut Vec<u8>, data: &[u8], chunk: usize, fill: u8) {
    put_varint(out, data.len() as u64);
    let chunks: Vec<(usize, &[u8])> = data.chunks(chunk).enumerate().filter(|(_, c)| c.iter().any(|b| *b != fill)).collect();
    put_varint(out, chunks.len() as u64);
    for (i, c) in chunks {
        put_varint(out, i as u64);
        out.extend_from_slice(c);
    }
}

/// Reads what [`put_sparse`] wrote with the same `chunk` and `fill`.
pub fn get_sparse(r: &mut Reader<'_>, chunk: usize, fill: u8) -> Result<Vec<u8>, WireError> {
    let at = r.pos;
    let n = r.varint()?;
    if n > MAX_BYTES {
        return Err(WireError::Bad { what: "byte string longer than 64 MiB", at });
    }
    let mut data = vec![fill; n as usize];
    let count = r.length()?;
    let mut last = None;
    for _ in 0..count {
        let at = r.pos;
        let i = r.varint()? as usize;
        let start = i.checked_mul(chunk).filter(|s| *s < data.len() && last.is_none_or(|l| i > l));
        let Some(start) = start else { return Err(WireError::Bad { what: "chunk out of order or past the end", at }) };
        let end = (start + chunk).min(data.len());
        data[start..end].copy_from_slice(r.take(end - start)?);
        last = Some(i);
    }
    Ok(data)
}

/// The largest byte string (a file's contents) a recording may hold.
const MAX_BYTES: u64 = 64 << 20;

/// Bytes (a file, a frame): their 4 KiB chunks that are not all zero.
impl Wire for Arc<[u8]> {
    fn put(&self, out: &mut Vec<u8>) {
        put_sparse(out, self, 4096, 0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        get_sparse(r, 4096, 0).map(Arc::from)
    }
}

impl<K: Wire + Ord, V: Wire> Wire for BTreeMap<K, V> {
    fn put(&self, out: &mut Vec<u8>) {
        put_pairs(out, self.len(), self.iter());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        get_pairs(r)
    }
}

/// A map: its length, then each key and value, in key order.
fn put_pairs<'a, K: Wire + 'a, V: Wire + 'a>(out: &mut Vec<u8>, len: usize, pairs: impl Iterator<Item = (&'a K, &'a V)>) {
    put_varint(out, len as u64);
    for (k, v) in pairs {
        k.put(out);
        v.put(out);
    }
}

/// A map [`put_pairs`] wrote, one insert at a time: collecting would sort,
/// and each map type's sort costs the page kilobytes of code.
fn get_pairs<K: Wire + Ord, V: Wire, M: Default + super::ordmap::Table<K, V>>(r: &mut Reader<'_>) -> Result<M, WireError> {
    let n = r.length()?;
    let mut m = M::default();
    for _ in 0..n {
        let k = K::get(r)?;
        let v = V::get(r)?;
        m.set(k, v);
    }
    Ok(m)
}

/// The viewer's state tables ([`super::ordmap::VecMap`]): the same bytes as
/// a `BTreeMap`'s, entries in key order.
impl<K: Wire + Ord, V: Wire> Wire for super::ordmap::VecMap<K, V> {
    fn put(&self, out: &mut Vec<u8>) {
        put_pairs(out, self.len(), self.iter());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        get_pairs(r)
    }
}

impl<T: Wire> Wire for Box<[T]> {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for x in self.iter() {
            x.put(out);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Vec::<T>::get(r).map(Vec::into_boxed_slice)
    }
}

impl<A: Wire, B: Wire, C: Wire> Wire for (A, B, C) {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
        self.2.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok((A::get(r)?, B::get(r)?, C::get(r)?))
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

/// Implements [`Wire`] for structs by listing their fields. The fields are
/// destructured without `..`, so adding a field without encoding it does not
/// compile.
#[macro_export]
macro_rules! wire_struct {
    ($($t:ident { $($f:ident),* $(,)? })*) => {$(
        impl $crate::wire::Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                let $t { $($f),* } = self;
                $( $crate::wire::Wire::put($f, out); )*
            }
            fn get(r: &mut $crate::wire::Reader<'_>) -> Result<Self, $crate::wire::WireError> {
                Ok($t { $($f: $crate::wire::field(r)?),* })
            }
        }
    )*};
}

/// Implements [`Wire`] for enums: each variant with its tag byte and its
/// named fields (`{ a, b }`), tuple fields (`(a, b)`) or none. The match in
/// `put` is exhaustive, so a new variant must be given a tag.
#[macro_export]
macro_rules! wire_enum {
    ($($t:ident { $($v:ident $({ $($f:ident),* })? $(( $($p:ident),* ))? = $tag:literal),* $(,)? })*) => {$(
        impl $crate::wire::Wire for $t {
            #[allow(unused_variables)]
            fn put(&self, out: &mut Vec<u8>) {
                match self {
                    $( $t::$v $({ $($f),* })? $(( $($p),* ))? => {
                        out.push($tag);
                        $($( $crate::wire::Wire::put($f, out); )*)?
                        $($( $crate::wire::Wire::put($p, out); )*)?
                    } )*
                }
            }
            fn get(r: &mut $crate::wire::Reader<'_>) -> Result<Self, $crate::wire::WireError> {
                match r.tag()? {
                    $( ($tag, _) => Ok($t::$v $({ $($f: $crate::wire::field(r)?),* })? $(( $({ let _ = stringify!($p); $crate::wire::field(r)? }),* ))?), )*
                    (tag, at) => Err($crate::wire::WireError::BadTag { what: stringify!($t), tag, at }),
                }
            }
        }
    )*};
}

/// Implements [`Wire`] for newtypes over a number (`struct Pid(u32)`).
#[macro_export]
macro_rules! wire_newtype {
    ($($t:ident),*) => {$(
        impl $crate::wire::Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                $crate::wire::Wire::put(&self.0, out);
            }
            fn get(r: &mut $crate::wire::Reader<'_>) -> Result<Self, $crate::wire::WireError> {
                $crate::wire::Wire::get(r).map($t)
            }
        }
    )*};
}

wire_enum! {
    EventKind {
        Syscall = 0, Walk = 1, Tlb = 2, Fault = 3, Alloc = 4, Free = 5, Map = 6, Copy = 7, Process = 8, Fd = 9, Error = 10,
    }
}

/// Writes an event record as [`Sealed`] reads it: its category, its own
/// encoding (`inner`, length first) and what it points at.
pub fn put_sealed<F: Wire>(out: &mut Vec<u8>, kind: EventKind, inner: &[u8], focus: &[F]) {
    put_sealed_with(
        out,
        kind,
        |out| out.extend_from_slice(inner),
        |out| {
            put_varint(out, focus.len() as u64);
            focus.iter().for_each(|f| f.put(out));
        },
    );
}

/// [`put_sealed`] with the record's own encoding written by `inner`
/// straight into `out` (one byte is kept for its length, which records
/// under 128 bytes need; longer ones are moved up to make room), and what
/// it points at by `focus` (a count, then each).
pub fn put_sealed_with(out: &mut Vec<u8>, kind: EventKind, inner: impl FnOnce(&mut Vec<u8>), focus: impl FnOnce(&mut Vec<u8>)) {
    kind.put(out);
    let at = out.len();
    out.push(0);
    inner(out);
    let n = out.len() - at - 1;
    if n < 0x80 {
        out[at] = n as u8;
    } else {
        let mut len = Vec::new();
        put_varint(&mut len, n as u64);
        out.splice(at..at + 1, len);
    }
    focus(out);
}

/// Reads what [`put_sealed`] wrote, up to the record's own encoding, which
/// `inner` decodes (it must use every byte); what it points at is read and
/// dropped (the record derives it).
pub fn get_sealed<T, F: Wire>(r: &mut Reader<'_>, inner: impl FnOnce(&mut Reader<'_>) -> Result<T, WireError>) -> Result<T, WireError> {
    let s = Sealed::<F>::get(r)?;
    let mut rr = Reader::new(&s.bytes);
    let v = inner(&mut rr)?;
    match rr.remaining() {
        0 => Ok(v),
        _ => Err(WireError::Bad { what: "an event record longer than its fields", at: r.pos }),
    }
}

/// Decodes all of `bytes` with `inner`.
pub fn decode_inner<T>(bytes: &[u8], inner: impl FnOnce(&mut Reader<'_>) -> Result<T, WireError>) -> Result<T, WireError> {
    let mut r = Reader::new(bytes);
    let v = inner(&mut r)?;
    match r.remaining() {
        0 => Ok(v),
        n => Err(WireError::Trailing(n)),
    }
}

impl<F: Wire> Wire for Sealed<F> {
    fn put(&self, out: &mut Vec<u8>) {
        put_sealed(out, self.kind, &self.bytes, &self.focus);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let kind = EventKind::get(r)?;
        let n = r.length()?;
        let bytes = r.take(n)?.to_vec();
        Ok(Sealed { kind, bytes, focus: Wire::get(r)? })
    }
    fn skip(r: &mut Reader<'_>) -> Result<(), WireError> {
        EventKind::skip(r)?;
        let n = r.length()?;
        r.take(n)?;
        Vec::<F>::skip(r)
    }
}

impl<W: Wire, D: Wire, F: Wire> Wire for Event<W, D, F> {
    fn put(&self, out: &mut Vec<u8>) {
        let Event { what, focus, deltas } = self;
        what.put(out);
        focus.put(out);
        deltas.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Event { what: Wire::get(r)?, focus: Wire::get(r)?, deltas: Wire::get(r)? })
    }
}

impl<S: Wire + Clone, W: Wire, D: Wire + Undo<S>, F: Wire> Wire for Timeline<S, W, D, F> {
    /// The initial state, then each event with the operation it belongs to;
    /// a timeline read back stands at its start, its events indexed, and
    /// builds its checkpoints as it is moved ([`Timeline::build`]).
    fn put(&self, out: &mut Vec<u8>) {
        self.initial().put(out);
        put_varint(out, self.len() as u64);
        for i in 0..self.len() {
            self.op_of(i).unwrap_or(0).put(out);
            let e = self.encoded(i);
            put_varint(out, e.len() as u64);
            out.extend_from_slice(e);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let initial = S::get(r)?;
        let n = r.length()?;
        let mut t = Timeline::new(initial);
        let mut last = 0;
        // Each event is indexed, not decoded: it is checked and its deltas
        // applied as the timeline is built ([`Timeline::build`]).
        // Each event takes at least two bytes: n is bounded by what is left.
        t.reserve(n.min(r.remaining() / 2), r.remaining());
        for _ in 0..n {
            let at = r.pos;
            let op = usize::get(r)?;
            if op < last {
                return Err(WireError::Bad { what: "operations out of order", at });
            }
            last = op;
            let len = r.length()?;
            t.push_unbuilt(op, r.take(len)?);
        }
        Ok(t)
    }
}

/// Encodes `value` behind [`MAGIC`].
pub fn encode<T: Wire>(value: &T) -> Vec<u8> {
    encode_with(MAGIC, value)
}

/// Decodes what [`encode`] wrote; every byte must be used.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, WireError> {
    decode_with(MAGIC, bytes)
}

/// Encodes `value` behind another format's `magic`.
pub fn encode_with<T: Wire>(magic: &[u8; 8], value: &T) -> Vec<u8> {
    let mut out = magic.to_vec();
    value.put(&mut out);
    out
}

/// Decodes what [`encode_with`] wrote with the same `magic`; every byte
/// must be used.
pub fn decode_with<T: Wire>(magic: &[u8; 8], bytes: &[u8]) -> Result<T, WireError> {
    let mut r = Reader::new(bytes);
    if r.take(magic.len()).ok() != Some(&magic[..]) {
        return Err(WireError::Magic);
    }
    let v = T::get(&mut r)?;
    match r.remaining() {
        0 => Ok(v),
        n => Err(WireError::Trailing(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn back<T: Wire>(bytes: &[u8]) -> Result<T, WireError> {
        T::get(&mut Reader::new(bytes))
    }

    #[test]
    fn numbers_and_arrays_read_back_and_a_cut_is_truncated_where_it_ends() {
        for v in [0u64, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            v.put(&mut out);
            assert_eq!(back::<u64>(&out).ok(), Some(v), "{v:#x}");
            // Every shorter prefix is truncated at its end.
            for n in 0..out.len() {
                assert!(matches!(back::<u64>(&out[..n]), Err(WireError::Truncated(at)) if at == n), "{v:#x} cut at {n}");
            }
        }
        let a = [7u16, 0x1234, 0, u16::MAX];
        let mut out = Vec::new();
        a.put(&mut out);
        assert_eq!(back::<[u16; 4]>(&out).ok(), Some(a));
        // Cut before the last element (7, 0x1234 and 0 take 1 + 2 + 1
        // bytes): the error is where the bytes end.
        assert!(matches!(back::<[u16; 4]>(&out[..4]), Err(WireError::Truncated(4))));
        // A value too large for the element type says so.
        let mut big = Vec::new();
        0x1_0000u64.put(&mut big);
        assert!(matches!(back::<[u16; 1]>(&big), Err(WireError::Bad { at: 0, .. })));
    }
}
