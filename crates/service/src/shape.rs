//! Answers written straight from typed records: [`Shaped`] serialises a record with only the
//! members `fields=` selected (the `id` always) followed by the members `include=` embedded,
//! without first building a JSON tree of it. The record's own `Serialize` decides member names
//! and order, so a shaped record reads exactly like the record serialised whole, minus what
//! was not asked for.

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::value::RawValue;

/// `record` with the members `fields` names (all when `None`; `id` always) and then `extra`.
pub struct Shaped<'a, T> {
    pub record: &'a T,
    pub fields: Option<&'a [&'static str]>,
    pub extra: &'a [(&'a str, Box<RawValue>)],
}

impl<T: Serialize> Serialize for Shaped<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.record.serialize(Filter { inner: s, fields: self.fields, extra: self.extra })
    }
}

/// The serializer [`Shaped`] hands its record: it accepts a struct only and writes it as a map
/// of the selected members.
struct Filter<'a, S> {
    inner: S,
    fields: Option<&'a [&'static str]>,
    extra: &'a [(&'a str, Box<RawValue>)],
}

/// The members of the struct being shaped.
struct FilterStruct<'a, M> {
    map: M,
    fields: Option<&'a [&'static str]>,
    extra: &'a [(&'a str, Box<RawValue>)],
}

impl<M: SerializeMap> SerializeStruct for FilterStruct<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<V: ?Sized + Serialize>(&mut self, key: &'static str, value: &V) -> Result<(), M::Error> {
        if key == "id" || self.fields.is_none_or(|f| f.contains(&key)) {
            self.map.serialize_entry(key, value)?;
        }
        Ok(())
    }

    fn end(mut self) -> Result<M::Ok, M::Error> {
        for (k, v) in self.extra {
            self.map.serialize_entry(k, v)?;
        }
        self.map.end()
    }
}

fn not_a_struct<E: ser::Error>() -> E {
    E::custom("only a struct can be shaped")
}

/// Every kind of value but a struct is refused.
macro_rules! refuse {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $name(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
            Err(not_a_struct())
        }
    )*};
}

impl<'a, S: Serializer> Serializer for Filter<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = FilterStruct<'a, S::SerializeMap>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, S::Error> {
        Ok(FilterStruct { map: self.inner.serialize_map(None)?, fields: self.fields, extra: self.extra })
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<V: ?Sized + Serialize>(self, _: &V) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_newtype_struct<V: ?Sized + Serialize>(self, _: &'static str, _: &V) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_newtype_variant<V: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_struct())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[derive(serde::Serialize)]
    struct Rec {
        id: i64,
        name: &'static str,
        city: Option<&'static str>,
        n: f64,
    }

    const REC: Rec = Rec { id: 7, name: "a\"b", city: None, n: 2.5 };

    fn shaped(fields: Option<&[&'static str]>, extra: &[(&str, Box<RawValue>)]) -> String {
        serde_json::to_string(&Shaped { record: &REC, fields, extra }).unwrap_or_default()
    }

    #[test]
    fn whole_record_reads_as_its_own_serialisation() {
        assert_eq!(shaped(None, &[]), serde_json::to_string(&REC).unwrap_or_default());
    }

    #[test]
    fn fields_keep_the_id_and_the_named_members_in_record_order() {
        assert_eq!(shaped(Some(&["n", "city"]), &[]), r#"{"id":7,"city":null,"n":2.5}"#);
        assert_eq!(shaped(Some(&[]), &[]), r#"{"id":7}"#);
    }

    #[test]
    fn embedded_members_follow_the_record() {
        let raw = |v| serde_json::value::to_raw_value(&v).unwrap_or_default();
        let extra = [("team", raw(json!([{"id": 1}]))), ("financials", raw(Value::Null))];
        assert_eq!(shaped(Some(&["name"]), &extra), r#"{"id":7,"name":"a\"b","team":[{"id":1}],"financials":null}"#);
    }

    #[test]
    fn only_structs_can_be_shaped() {
        let r = serde_json::to_string(&Shaped { record: &3, fields: None, extra: &[] });
        assert!(r.is_err());
    }
}
