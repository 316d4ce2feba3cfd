//! The default store key of a `#[cached]` function: its arguments, canonical, so that equal
//! arguments give one key in every process and distinct arguments distinct keys.
//!
//! The arguments are first recorded as a tree of serde's data model ([`Node`]), with the
//! entries of every map sorted, wherever the map is nested: a `HashMap`'s iteration order
//! differs between processes, its key must not. The tree is then written as JSON, readable in
//! the store (`[42,"eu"]`), unless JSON cannot tell the values apart: it writes NaN and both
//! infinities as `null`. A tree with a non-finite float (or anything else JSON refuses, such as
//! a map with non-string keys) is written as `#` followed by hex MessagePack, which keeps them.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize, Serializer};

/// The default key of a store-backed site: canonical JSON, or `#` + hex MessagePack when JSON
/// cannot express it faithfully. `None` (logged) if the arguments do not serialise.
pub(crate) fn encode_key<K: Serialize + ?Sized>(key: &K) -> Option<String> {
    let node = match key.serialize(Record) {
        Ok(node) => node,
        Err(e) => {
            tracing::debug!(error = %e.0, "cachex: cache key not serialisable; not cached");
            return None;
        }
    };
    if !node.has_non_finite() {
        if let Ok(json) = serde_json::to_string(&node) {
            return Some(json);
        }
    }
    match rmp_serde::to_vec_named(&node) {
        Ok(bytes) => {
            let mut out = String::with_capacity(bytes.len().saturating_mul(2).saturating_add(1));
            out.push('#');
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            Some(out)
        }
        Err(e) => {
            tracing::debug!(error = %e, "cachex: cache key not serialisable; not cached");
            None
        }
    }
}

type Name = &'static str;

/// A value of serde's data model, recorded. Integers are widened: JSON and MessagePack write
/// every width of one value the same way.
#[derive(Debug)]
enum Node {
    Bool(bool),
    I64(i64),
    I128(i128),
    U64(u64),
    U128(u128),
    F32(f32),
    F64(f64),
    Char(char),
    Str(String),
    Bytes(Vec<u8>),
    None,
    Some(Box<Node>),
    Unit,
    UnitStruct(Name),
    UnitVariant(Name, u32, Name),
    NewtypeStruct(Name, Box<Node>),
    NewtypeVariant(Name, u32, Name, Box<Node>),
    Seq(Vec<Node>),
    Tuple(Vec<Node>),
    TupleStruct(Name, Vec<Node>),
    TupleVariant(Name, u32, Name, Vec<Node>),
    /// Entries sorted (see [`sort_entries`]).
    Map(Vec<(Node, Node)>),
    Struct(Name, Vec<(Name, Node)>),
    StructVariant(Name, u32, Name, Vec<(Name, Node)>),
}

impl Node {
    fn has_non_finite(&self) -> bool {
        match self {
            Node::F32(f) => !f.is_finite(),
            Node::F64(f) => !f.is_finite(),
            Node::Some(n) | Node::NewtypeStruct(_, n) | Node::NewtypeVariant(_, _, _, n) => {
                n.has_non_finite()
            }
            Node::Seq(v) | Node::Tuple(v) | Node::TupleStruct(_, v) | Node::TupleVariant(.., v) => {
                v.iter().any(Node::has_non_finite)
            }
            Node::Map(entries) => entries
                .iter()
                .any(|(k, v)| k.has_non_finite() || v.has_non_finite()),
            Node::Struct(_, fields) | Node::StructVariant(.., fields) => {
                fields.iter().any(|(_, v)| v.has_non_finite())
            }
            _ => false,
        }
    }
}

/// Sorts map entries into one order whatever order they came in: string keys by their text
/// (as JSON readers expect), other keys by their MessagePack bytes.
fn sort_entries(entries: &mut [(Node, Node)]) {
    fn rank(key: &Node) -> (u8, Vec<u8>) {
        match key {
            Node::Str(s) => (0, s.as_bytes().to_vec()),
            other => (1, rmp_serde::to_vec(other).unwrap_or_default()),
        }
    }
    entries.sort_by_cached_key(|(k, _)| rank(k));
}

/// Why a key could not be recorded.
#[derive(Debug)]
pub(crate) struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError(msg.to_string())
    }
}

/// Records a value as a [`Node`].
struct Record;

/// A sequence-like value being recorded.
struct RecordSeq {
    kind: SeqKind,
    items: Vec<Node>,
}

enum SeqKind {
    Seq,
    Tuple,
    TupleStruct(Name),
    TupleVariant(Name, u32, Name),
}

/// A map being recorded.
struct RecordMap {
    entries: Vec<(Node, Node)>,
    pending: Option<Node>,
}

/// A struct being recorded.
struct RecordStruct {
    variant: Option<(u32, Name)>,
    name: Name,
    fields: Vec<(Name, Node)>,
}

impl Serializer for Record {
    type Ok = Node;
    type Error = KeyError;
    type SerializeSeq = RecordSeq;
    type SerializeTuple = RecordSeq;
    type SerializeTupleStruct = RecordSeq;
    type SerializeTupleVariant = RecordSeq;
    type SerializeMap = RecordMap;
    type SerializeStruct = RecordStruct;
    type SerializeStructVariant = RecordStruct;

    fn serialize_bool(self, v: bool) -> Result<Node, KeyError> {
        Ok(Node::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Node, KeyError> {
        Ok(Node::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Node, KeyError> {
        Ok(Node::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Node, KeyError> {
        Ok(Node::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Node, KeyError> {
        Ok(Node::I64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Node, KeyError> {
        Ok(Node::I128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Node, KeyError> {
        Ok(Node::U64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Node, KeyError> {
        Ok(Node::U64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Node, KeyError> {
        Ok(Node::U64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Node, KeyError> {
        Ok(Node::U64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Node, KeyError> {
        Ok(Node::U128(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Node, KeyError> {
        Ok(Node::F32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Node, KeyError> {
        Ok(Node::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Node, KeyError> {
        Ok(Node::Char(v))
    }
    fn serialize_str(self, v: &str) -> Result<Node, KeyError> {
        Ok(Node::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Node, KeyError> {
        Ok(Node::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Node, KeyError> {
        Ok(Node::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Node, KeyError> {
        Ok(Node::Some(Box::new(value.serialize(Record)?)))
    }
    fn serialize_unit(self) -> Result<Node, KeyError> {
        Ok(Node::Unit)
    }
    fn serialize_unit_struct(self, name: Name) -> Result<Node, KeyError> {
        Ok(Node::UnitStruct(name))
    }
    fn serialize_unit_variant(self, name: Name, idx: u32, variant: Name) -> Result<Node, KeyError> {
        Ok(Node::UnitVariant(name, idx, variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: Name,
        value: &T,
    ) -> Result<Node, KeyError> {
        Ok(Node::NewtypeStruct(
            name,
            Box::new(value.serialize(Record)?),
        ))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: Name,
        idx: u32,
        variant: Name,
        value: &T,
    ) -> Result<Node, KeyError> {
        Ok(Node::NewtypeVariant(
            name,
            idx,
            variant,
            Box::new(value.serialize(Record)?),
        ))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<RecordSeq, KeyError> {
        Ok(RecordSeq::new(SeqKind::Seq, len.unwrap_or(0)))
    }
    fn serialize_tuple(self, len: usize) -> Result<RecordSeq, KeyError> {
        Ok(RecordSeq::new(SeqKind::Tuple, len))
    }
    fn serialize_tuple_struct(self, name: Name, len: usize) -> Result<RecordSeq, KeyError> {
        Ok(RecordSeq::new(SeqKind::TupleStruct(name), len))
    }
    fn serialize_tuple_variant(
        self,
        name: Name,
        idx: u32,
        variant: Name,
        len: usize,
    ) -> Result<RecordSeq, KeyError> {
        Ok(RecordSeq::new(
            SeqKind::TupleVariant(name, idx, variant),
            len,
        ))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<RecordMap, KeyError> {
        Ok(RecordMap {
            entries: Vec::with_capacity(len.unwrap_or(0).min(1024)),
            pending: None,
        })
    }
    fn serialize_struct(self, name: Name, len: usize) -> Result<RecordStruct, KeyError> {
        Ok(RecordStruct {
            variant: None,
            name,
            fields: Vec::with_capacity(len.min(1024)),
        })
    }
    fn serialize_struct_variant(
        self,
        name: Name,
        idx: u32,
        variant: Name,
        len: usize,
    ) -> Result<RecordStruct, KeyError> {
        Ok(RecordStruct {
            variant: Some((idx, variant)),
            name,
            fields: Vec::with_capacity(len.min(1024)),
        })
    }
}

impl RecordSeq {
    fn new(kind: SeqKind, len: usize) -> Self {
        RecordSeq {
            kind,
            items: Vec::with_capacity(len.min(1024)),
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        self.items.push(value.serialize(Record)?);
        Ok(())
    }

    fn finish(self) -> Node {
        match self.kind {
            SeqKind::Seq => Node::Seq(self.items),
            SeqKind::Tuple => Node::Tuple(self.items),
            SeqKind::TupleStruct(name) => Node::TupleStruct(name, self.items),
            SeqKind::TupleVariant(name, idx, variant) => {
                Node::TupleVariant(name, idx, variant, self.items)
            }
        }
    }
}

/// The four sequence-like serializer traits differ only in the name of their element method:
/// each records the element in order and ends with the finished node.
macro_rules! record_seq {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for RecordSeq {
            type Ok = Node;
            type Error = KeyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.push(value)
            }
            fn end(self) -> Result<Node, KeyError> {
                Ok(self.finish())
            }
        }
    )*};
}

record_seq!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for RecordMap {
    type Ok = Node;
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.pending = Some(key.serialize(Record)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let Some(key) = self.pending.take() else {
            return Err(KeyError("map value without a key".to_owned()));
        };
        self.entries.push((key, value.serialize(Record)?));
        Ok(())
    }
    fn end(mut self) -> Result<Node, KeyError> {
        sort_entries(&mut self.entries);
        Ok(Node::Map(self.entries))
    }
}

impl RecordStruct {
    fn push<T: Serialize + ?Sized>(&mut self, key: Name, value: &T) -> Result<(), KeyError> {
        self.fields.push((key, value.serialize(Record)?));
        Ok(())
    }

    fn finish(self) -> Node {
        match self.variant {
            None => Node::Struct(self.name, self.fields),
            Some((idx, variant)) => Node::StructVariant(self.name, idx, variant, self.fields),
        }
    }
}

impl ser::SerializeStruct for RecordStruct {
    type Ok = Node;
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: Name,
        value: &T,
    ) -> Result<(), KeyError> {
        self.push(key, value)
    }
    fn end(self) -> Result<Node, KeyError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for RecordStruct {
    type Ok = Node;
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: Name,
        value: &T,
    ) -> Result<(), KeyError> {
        self.push(key, value)
    }
    fn end(self) -> Result<Node, KeyError> {
        Ok(self.finish())
    }
}

/// Replays the recorded value, so JSON and MessagePack see what the original value showed them
/// (maps in sorted order).
impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::{
            SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
            SerializeTupleStruct, SerializeTupleVariant,
        };
        match self {
            Node::Bool(v) => s.serialize_bool(*v),
            Node::I64(v) => s.serialize_i64(*v),
            Node::I128(v) => s.serialize_i128(*v),
            Node::U64(v) => s.serialize_u64(*v),
            Node::U128(v) => s.serialize_u128(*v),
            Node::F32(v) => s.serialize_f32(*v),
            Node::F64(v) => s.serialize_f64(*v),
            Node::Char(v) => s.serialize_char(*v),
            Node::Str(v) => s.serialize_str(v),
            Node::Bytes(v) => s.serialize_bytes(v),
            Node::None => s.serialize_none(),
            Node::Some(v) => s.serialize_some(&**v),
            Node::Unit => s.serialize_unit(),
            Node::UnitStruct(name) => s.serialize_unit_struct(name),
            Node::UnitVariant(name, idx, variant) => s.serialize_unit_variant(name, *idx, variant),
            Node::NewtypeStruct(name, v) => s.serialize_newtype_struct(name, &**v),
            Node::NewtypeVariant(name, idx, variant, v) => {
                s.serialize_newtype_variant(name, *idx, variant, &**v)
            }
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Tuple(items) => {
                let mut tup = s.serialize_tuple(items.len())?;
                for item in items {
                    tup.serialize_element(item)?;
                }
                tup.end()
            }
            Node::TupleStruct(name, items) => {
                let mut tup = s.serialize_tuple_struct(name, items.len())?;
                for item in items {
                    tup.serialize_field(item)?;
                }
                tup.end()
            }
            Node::TupleVariant(name, idx, variant, items) => {
                let mut tup = s.serialize_tuple_variant(name, *idx, variant, items.len())?;
                for item in items {
                    tup.serialize_field(item)?;
                }
                tup.end()
            }
            Node::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Node::Struct(name, fields) => {
                let mut st = s.serialize_struct(name, fields.len())?;
                for (k, v) in fields {
                    st.serialize_field(k, v)?;
                }
                st.end()
            }
            Node::StructVariant(name, idx, variant, fields) => {
                let mut st = s.serialize_struct_variant(name, *idx, variant, fields.len())?;
                for (k, v) in fields {
                    st.serialize_field(k, v)?;
                }
                st.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn default_keys_read_as_json() {
        assert_eq!(encode_key(&(7u32, "x")).as_deref(), Some(r#"[7,"x"]"#));
        assert_eq!(encode_key(&(0.1f32,)).as_deref(), Some("[0.1]"));
        assert_eq!(encode_key(&Some(1u8)).as_deref(), Some("1"));
    }

    #[test]
    fn nan_and_both_infinities_get_three_keys() {
        // serde_json writes NaN, +inf and -inf as `null`: the three used to share one key.
        let keys: Vec<String> = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
            .iter()
            .map(|f| encode_key(&(*f,)).unwrap())
            .collect();
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
        assert!(keys.iter().all(|k| k.starts_with('#')), "{keys:?}");
        assert_ne!(encode_key(&(f32::NAN,)), encode_key(&(None::<f32>,)));
    }

    #[test]
    fn maps_with_non_string_keys_fall_back_to_hex() {
        let map = BTreeMap::from([((1u8, 2u8), "a")]);
        assert!(encode_key(&map).unwrap().starts_with('#'));
    }

    fn distinct_floats() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
        ]
    }

    proptest! {
        #[test]
        fn distinct_floats_get_distinct_keys(a in distinct_floats(), b in distinct_floats()) {
            // JSON writes 0.0 and -0.0 differently, and every NaN payload is one NaN to a user.
            let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            let (ka, kb) = (encode_key(&(a, "k")).unwrap(), encode_key(&(b, "k")).unwrap());
            if same {
                prop_assert_eq!(ka, kb);
            } else {
                prop_assert_ne!(ka, kb);
            }
        }

        #[test]
        fn equal_maps_get_equal_keys(entries in proptest::collection::vec((any::<u16>(), any::<i32>()), 0..40)) {
            let forward: HashMap<String, i32> =
                entries.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            // Same entries, inserted in the other order, into a map with another hash seed.
            let mut backward: HashMap<String, i32> = HashMap::new();
            for (k, v) in forward.iter().collect::<Vec<_>>().into_iter().rev() {
                backward.insert(k.clone(), *v);
            }
            prop_assert_eq!(&forward, &backward);
            let nested_a = (1u8, vec![forward.clone()], Some(forward.clone()));
            let nested_b = (1u8, vec![backward.clone()], Some(backward.clone()));
            prop_assert_eq!(encode_key(&nested_a), encode_key(&nested_b));
            let by_number: HashMap<u16, i32> = entries.iter().copied().collect();
            let by_number_rev: HashMap<u16, i32> = entries
                .iter()
                .copied()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .rev()
                .collect();
            prop_assert_eq!(encode_key(&by_number), encode_key(&by_number_rev));
        }
    }
}
