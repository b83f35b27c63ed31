//! Moves typed values in and out of the Automerge document through `serde_json::Value`.
//!
//! Writing *reconciles*: only scalars that differ from the document produce operations, so two
//! devices editing different fields of the same record merge field by field. Conventions:
//! a JSON object is an Automerge map (keys missing from the JSON are deleted), a JSON array is
//! an Automerge list replaced whole when it differs (last writer wins for the whole list), a
//! `null` deletes the key. Collections that many people add to concurrently are modelled as
//! maps keyed by id in the domain types, never as arrays.

use crate::error::{CoreError, Result};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting we read back; Kizuna writes at most ~8 levels, so deeper means a foreign or
/// hostile document and reading stops instead of recursing without bound.
const MAX_DEPTH: usize = 32;

/// Reads the object `obj` (map or list) as JSON.
pub fn read(doc: &AutoCommit, obj: &ObjId) -> Result<Json> {
    read_obj(doc, obj, 0)
}

/// Reads the value at `key` of map `obj`; `None` when absent.
pub fn read_key(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<Json>> {
    match doc.get(obj, key)? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => Ok(Some(scalar_to_json(&s))),
        Some((Value::Object(_), id)) => Ok(Some(read_obj(doc, &id, 1)?)),
    }
}

fn read_obj(doc: &AutoCommit, obj: &ObjId, depth: usize) -> Result<Json> {
    if depth > MAX_DEPTH {
        return Err(CoreError::Malformed("document nested too deeply"));
    }
    match doc.object_type(obj)? {
        ObjType::Map | ObjType::Table => {
            let mut out = Map::new();
            for item in doc.map_range(obj, ..) {
                let id = item.id();
                let v = value_to_json(doc, item.value.into(), id, depth)?;
                out.insert(item.key.to_string(), v);
            }
            Ok(Json::Object(out))
        }
        ObjType::List => {
            let mut out = Vec::new();
            for item in doc.list_range(obj, ..) {
                let id = item.id();
                out.push(value_to_json(doc, item.value.into(), id, depth)?);
            }
            Ok(Json::Array(out))
        }
        ObjType::Text => Ok(Json::String(doc.text(obj)?)),
    }
}

fn value_to_json(doc: &AutoCommit, v: Value<'_>, id: ObjId, depth: usize) -> Result<Json> {
    match v {
        Value::Scalar(s) => Ok(scalar_to_json(&s)),
        Value::Object(_) => read_obj(doc, &id, depth + 1),
    }
}

fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null | ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Json::Null,
    }
}

fn json_to_scalar(v: &Json) -> Option<ScalarValue> {
    match v {
        Json::String(s) => Some(ScalarValue::Str(s.as_str().into())),
        Json::Bool(b) => Some(ScalarValue::Boolean(*b)),
        Json::Number(n) => Some(if let Some(i) = n.as_i64() {
            ScalarValue::Int(i)
        } else if let Some(u) = n.as_u64() {
            ScalarValue::Uint(u)
        } else {
            ScalarValue::F64(n.as_f64().unwrap_or(0.0))
        }),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

/// Makes map `obj` hold exactly the fields of `fields`, touching only what differs.
/// Returns the names of the top-level keys that changed.
pub fn reconcile_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    fields: &Map<String, Json>,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    let existing: Vec<String> = doc.keys(obj).collect();
    for key in existing {
        if !fields.contains_key(&key) || fields.get(&key).is_some_and(Json::is_null) {
            doc.delete(obj, key.as_str())?;
            changed.push(key);
        }
    }
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        if reconcile_key(doc, obj, key, value)? {
            changed.push(key.clone());
        }
    }
    Ok(changed)
}

/// Sets `key` of map `obj` to `value`, reconciling nested maps. Returns whether anything changed.
pub fn reconcile_key(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &Json) -> Result<bool> {
    let current = doc.get(obj, key)?;
    match value {
        Json::Null => {
            if current.is_some() {
                doc.delete(obj, key)?;
                return Ok(true);
            }
            Ok(false)
        }
        Json::Object(fields) => {
            if let Some((Value::Object(ObjType::Map), id)) = current {
                Ok(!reconcile_map(doc, &id, fields)?.is_empty())
            } else {
                let id = doc.put_object(obj, key, ObjType::Map)?;
                reconcile_map(doc, &id, fields)?;
                Ok(true)
            }
        }
        Json::Array(items) => {
            if let Some((Value::Object(ObjType::List), id)) = &current {
                let Json::Array(old) = read_obj(doc, id, 1)? else {
                    return Err(CoreError::Malformed("list is not a list"));
                };
                if old == *items {
                    return Ok(false);
                }
                let scalars = |v: &[Json]| v.iter().all(|x| !x.is_object() && !x.is_array());
                if scalars(&old) && scalars(items) {
                    reconcile_scalar_list(doc, id, &old, items)?;
                    return Ok(true);
                }
            }
            let id = doc.put_object(obj, key, ObjType::List)?;
            fill_list(doc, &id, items)?;
            Ok(true)
        }
        scalar => {
            let new = json_to_scalar(scalar).ok_or(CoreError::Malformed("unsupported value"))?;
            if let Some((Value::Scalar(old), _)) = &current
                && scalar_to_json(old) == *scalar
            {
                return Ok(false);
            }
            doc.put(obj, key, new)?;
            Ok(true)
        }
    }
}

/// Lists of plain values (allergies, devices…) behave as sets: removed values are deleted and
/// new ones appended, so two nurses adding different allergies offline both keep theirs.
fn reconcile_scalar_list(
    doc: &mut AutoCommit,
    list: &ObjId,
    old: &[Json],
    new: &[Json],
) -> Result<()> {
    for i in (0..old.len()).rev() {
        if !new.contains(&old[i]) {
            doc.delete(list, i)?;
        }
    }
    let added = new.iter().filter(|v| !old.contains(v));
    for (at, item) in (doc.length(list)..).zip(added) {
        let v = json_to_scalar(item).ok_or(CoreError::Malformed("unsupported value"))?;
        doc.insert(list, at, v)?;
    }
    Ok(())
}

fn fill_list(doc: &mut AutoCommit, list: &ObjId, items: &[Json]) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        match item {
            Json::Object(fields) => {
                let id = doc.insert_object(list, i, ObjType::Map)?;
                reconcile_map(doc, &id, fields)?;
            }
            Json::Array(inner) => {
                let id = doc.insert_object(list, i, ObjType::List)?;
                fill_list(doc, &id, inner)?;
            }
            Json::Null => doc.insert(list, i, ScalarValue::Null)?,
            scalar => {
                let v = json_to_scalar(scalar).ok_or(CoreError::Malformed("unsupported value"))?;
                doc.insert(list, i, v)?;
            }
        }
    }
    Ok(())
}

/// Serialises a typed value to a JSON object (the shape `reconcile_map` takes).
pub fn to_fields<T: serde::Serialize>(value: &T) -> Result<Map<String, Json>> {
    match serde_json::to_value(value) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(CoreError::Malformed("value is not a record")),
        Err(_) => Err(CoreError::Malformed("value could not be encoded")),
    }
}

/// Deserialises JSON read from the document into a typed value. Serde's message could quote
/// document content, so it is dropped: only the kind of record is named.
pub fn from_json<T: serde::de::DeserializeOwned>(v: Json, what: &'static str) -> Result<T> {
    serde_json::from_value(v).map_err(|_| CoreError::Malformed(what))
}

/// The map at `key` of `obj`, if it is a map.
pub fn map_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<ObjId>> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_nested_values() {
        let mut doc = AutoCommit::new();
        let v = json!({"a": 1, "b": "あ", "c": [1, 2, {"d": true}], "e": {"f": 36.5}});
        let Json::Object(m) = &v else { panic!() };
        reconcile_map(&mut doc, &automerge::ROOT, m).unwrap();
        assert_eq!(read(&doc, &automerge::ROOT).unwrap(), v);
    }

    #[test]
    fn unchanged_fields_make_no_operations() {
        let mut doc = AutoCommit::new();
        let v = json!({"a": 1, "e": {"f": 36.5, "g": [1]}});
        let Json::Object(m) = &v else { panic!() };
        reconcile_map(&mut doc, &automerge::ROOT, m).unwrap();
        doc.commit();
        let changed = reconcile_map(&mut doc, &automerge::ROOT, m).unwrap();
        assert!(changed.is_empty());
        assert!(
            doc.commit().is_none(),
            "no-op reconcile must not create a change"
        );
    }

    #[test]
    fn concurrent_edits_of_different_fields_both_survive() {
        let mut a = AutoCommit::new();
        let v = json!({"name": "x", "phone": "1"});
        let Json::Object(m) = &v else { panic!() };
        reconcile_map(&mut a, &automerge::ROOT, m).unwrap();
        a.commit();
        let mut b = a.fork();
        let Json::Object(ma) = json!({"name": "y", "phone": "1"}) else {
            panic!()
        };
        let Json::Object(mb) = json!({"name": "x", "phone": "2"}) else {
            panic!()
        };
        reconcile_map(&mut a, &automerge::ROOT, &ma).unwrap();
        reconcile_map(&mut b, &automerge::ROOT, &mb).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(
            read(&a, &automerge::ROOT).unwrap(),
            json!({"name": "y", "phone": "2"})
        );
    }
}
