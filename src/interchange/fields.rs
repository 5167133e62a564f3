//! Typed reading of one record's fields out of a JSON object, with a violation per bad field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::history::ExternalId;
use crate::domain::validate::Violations;

/// Reads typed fields out of a JSON object, collecting a violation for each bad one. Every
/// reader removes its field, so whatever is left at the end is unknown.
pub(super) struct Fields {
    pub map: Map<String, Value>,
    pub violations: Violations,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            violations: Violations::default(),
        }
    }

    /// The field's value; `null` counts as absent, as an empty CSV cell does.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    pub(super) fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(name, "a string", &other);
                None
            }
        }
    }

    pub(super) fn required_string(&mut self, name: &str) -> Option<String> {
        self.required(name, Self::string)
    }

    /// Reads a field that must be present; its absence is reported as such.
    pub(super) fn required<T>(
        &mut self,
        name: &str,
        read: fn(&mut Self, &str) -> Option<T>,
    ) -> Option<T> {
        if self.map.get(name).is_none_or(Value::is_null) {
            self.violations.add(name, "is required");
            return None;
        }
        read(self, name)
    }

    pub(super) fn int(&mut self, name: &str) -> Option<i64> {
        let value = self.take(name)?;
        let int = value.as_i64();
        if int.is_none() {
            self.wrong_type(name, "an integer", &value);
        }
        int
    }

    /// A non-negative integer no greater than `u32::MAX` / `u64::MAX` as the domain needs.
    pub(super) fn unsigned(&mut self, name: &str, max: u64) -> Option<u64> {
        let value = self.take(name)?;
        match value.as_u64() {
            Some(n) if n <= max => Some(n),
            _ => {
                self.wrong_type(name, &format!("an integer in 0..={max}"), &value);
                None
            }
        }
    }

    pub(super) fn u32(&mut self, name: &str) -> Option<u32> {
        self.unsigned(name, u64::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok())
    }

    pub(super) fn float(&mut self, name: &str) -> Option<f64> {
        let value = self.take(name)?;
        let float = value.as_f64();
        if float.is_none() {
            self.wrong_type(name, "a number", &value);
        }
        float
    }

    pub(super) fn bool(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Value::Bool(b) => Some(b),
            other => {
                self.wrong_type(name, "true or false", &other);
                None
            }
        }
    }

    /// A code of a closed set (`PAID`, `WEB`, ...).
    pub(super) fn code<T: Copy + std::fmt::Display>(
        &mut self,
        name: &str,
        from_code: fn(&str) -> Option<T>,
        all: &[T],
    ) -> Option<T> {
        let text = self.string(name)?;
        let parsed = from_code(&text);
        if parsed.is_none() {
            let expected: Vec<String> = all.iter().map(ToString::to_string).collect();
            self.violations.add(
                name,
                format!("{text:?} is not one of {}", expected.join(", ")),
            );
        }
        parsed
    }

    pub(super) fn string_list(&mut self, name: &str) -> Vec<String> {
        let Some(value) = self.take(name) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.wrong_type(name, "an array of strings", &value);
            return Vec::new();
        };
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(s) => list.push(s),
                other => {
                    self.wrong_type(&format!("{name}[{i}]"), "a string", &other);
                    // A stand-in keeps the later items' indices, so the domain checks name
                    // them as the file does.
                    list.push(other.to_string());
                }
            }
        }
        list
    }

    pub(super) fn string_map(&mut self, name: &str) -> BTreeMap<String, String> {
        let Some(value) = self.take(name) else {
            return BTreeMap::new();
        };
        let Value::Object(entries) = value else {
            self.wrong_type(name, "an object of strings", &value);
            return BTreeMap::new();
        };
        let mut map = BTreeMap::new();
        for (key, item) in entries {
            match item {
                Value::String(s) => {
                    map.insert(key, s);
                }
                other => self.wrong_type(&format!("{name}.{key}"), "a string", &other),
            }
        }
        map
    }

    pub(super) fn external_ids(&mut self) -> Vec<ExternalId> {
        let Some(value) = self.take("external_ids") else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.wrong_type("external_ids", "an array of {system, key}", &value);
            return Vec::new();
        };
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let field = format!("external_ids[{i}]");
            let pair = item.as_object().and_then(|o| {
                let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
                (o.len() == 2).then_some(())?;
                Some(ExternalId {
                    system: text("system")?,
                    key: text("key")?,
                })
            });
            match pair {
                Some(id) => ids.push(id),
                None => self.wrong_type(&field, "{\"system\": string, \"key\": string}", &item),
            }
        }
        ids
    }

    fn wrong_type(&mut self, name: &str, expected: &str, got: &Value) {
        self.violations
            .add(name, format!("must be {expected}, got {got}"));
    }

    pub(super) fn reject_unknown(&mut self, record_type: &str) {
        for key in std::mem::take(&mut self.map).keys() {
            self.violations.add(
                key.as_str(),
                format!("is not a field of a {record_type} record"),
            );
        }
    }
}
