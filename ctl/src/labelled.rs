//! `(label, count)` lists as JSON objects (`{"no_service": 1, ...}`), in their order,
//! for serde's `with`: drops by reason read the same in every JSON rvs writes.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serializer};

/// Write `pairs` as one object, keys in list order.
pub fn serialize<S: Serializer>(pairs: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (label, count) in pairs {
        map.serialize_entry(label, count)?;
    }
    map.end()
}

/// Read an object into pairs, in the order its keys come; a list of pairs (what
/// directors before this form sent) reads too.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, u64)>, D::Error> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, u64)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of counts by label")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(pair) = seq.next_element()? {
                out.push(pair);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Pairs)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Holder(#[serde(with = "super")] Vec<(String, u64)>);

    #[test]
    fn pairs_cross_as_an_object_in_their_order() {
        let h = Holder(vec![("z".into(), 1), ("a".into(), 0)]);
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(text, r#"{"z":1,"a":0}"#);
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), h);
        let old = r#"[["z",1],["a",0]]"#;
        assert_eq!(serde_json::from_str::<Holder>(old).unwrap(), h);
    }
}
