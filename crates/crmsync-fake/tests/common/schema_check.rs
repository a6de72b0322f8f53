//! A small JSON Schema (2020-12 subset) validator for the schema tests of both Inbox fakes
//! (`tests/inbox_v1/` and `tests/inbox_v2/` include it with `#[path]`): exactly the keywords the
//! vendor's v1 and v2 OpenAPI files use (v2 adds `minLength`, `minItems` and `maxItems`), plus a
//! check that objects carry no keys the schema does not declare (like
//! `unevaluatedProperties: false`), so the fake cannot drift into undocumented fields.
//!
//! Test-only. It must not silently accept what it does not understand: an unknown keyword,
//! `pattern` or `format` panics rather than passing.

use std::collections::HashSet;

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "description",
    "examples",
    "x-native-type",
    "default",
    "title",
    "deprecated",
];

/// Keywords that are validated.
const ASSERTIONS: &[&str] = &[
    "type",
    "properties",
    "required",
    "anyOf",
    "allOf",
    "$ref",
    "enum",
    "const",
    "pattern",
    "format",
    "items",
    "prefixItems",
    "minimum",
    "maximum",
    "propertyNames",
    "additionalProperties",
    "not",
    "minLength",
    "minItems",
    "maxItems",
];

/// The start of the spec's one-emoji pattern.
const EMOJI: &str = "^(?:\\p{Regional_Indicator}";

/// Which object keys a schema accounted for at one instance location.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Evaluated {
    /// The schema says nothing about properties (e.g. `{}`).
    Unknown,
    /// These keys are declared.
    Keys(HashSet<String>),
    /// Every key is accepted (`additionalProperties`).
    All,
}

impl Evaluated {
    fn merge(self, other: Evaluated) -> Evaluated {
        match (self, other) {
            (Evaluated::All, _) | (_, Evaluated::All) => Evaluated::All,
            (Evaluated::Unknown, x) | (x, Evaluated::Unknown) => x,
            (Evaluated::Keys(mut a), Evaluated::Keys(b)) => {
                a.extend(b);
                Evaluated::Keys(a)
            }
        }
    }
}

/// Validates instances against schemas inside one root document (for `$ref`s).
pub struct Validator<'a> {
    root: &'a Value,
}

impl<'a> Validator<'a> {
    /// `root` is the whole OpenAPI document; refs are `#/...` JSON pointers into it.
    pub fn new(root: &'a Value) -> Self {
        Validator { root }
    }

    /// All errors of `instance` against `schema`; empty means valid.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.value(schema, instance, "", &mut errors);
        errors
    }

    /// Panics if any schema under `node` uses a keyword this validator does not implement.
    pub fn check_keywords(node: &Value) {
        let Value::Object(map) = node else {
            return;
        };
        for (key, sub) in map {
            assert!(
                ANNOTATIONS.contains(&key.as_str()) || ASSERTIONS.contains(&key.as_str()),
                "schema keyword {key:?} is not supported by the test validator"
            );
            match key.as_str() {
                "properties" => sub
                    .as_object()
                    .into_iter()
                    .flatten()
                    .for_each(|(_, s)| Self::check_keywords(s)),
                "anyOf" | "allOf" | "prefixItems" => sub
                    .as_array()
                    .into_iter()
                    .flatten()
                    .for_each(Self::check_keywords),
                "items" | "not" | "propertyNames" | "additionalProperties" => {
                    Self::check_keywords(sub)
                }
                // The emoji pattern (message reactions) is on routes the fake does not serve;
                // `string_keywords` panics if it is ever reached.
                "pattern" => assert!(
                    sub == "^[0-9a-z]+$" || sub.as_str().is_some_and(|p| p.starts_with(EMOJI)),
                    "unsupported pattern {sub}"
                ),
                "format" => assert!(
                    sub == "date-time" || sub == "email",
                    "unsupported format {sub}"
                ),
                _ => {}
            }
        }
    }

    /// Validates one value and reports keys its schema does not declare.
    fn value(&self, schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
        let evaluated = self.node(schema, instance, path, errors);
        if let (Value::Object(map), Evaluated::Keys(keys)) = (instance, evaluated) {
            for key in map.keys().filter(|k| !keys.contains(*k)) {
                errors.push(format!("{path}/{key}: undocumented key"));
            }
        }
    }

    fn resolve(&self, reference: &str) -> &'a Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local refs are supported, got {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolvable ref {reference}"))
    }

    fn node(
        &self,
        schema: &Value,
        instance: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) -> Evaluated {
        let map = match schema {
            Value::Bool(true) => return Evaluated::Unknown,
            Value::Bool(false) => {
                errors.push(format!("{path}: schema `false` rejects everything"));
                return Evaluated::Unknown;
            }
            Value::Object(map) => map,
            other => panic!("not a schema: {other}"),
        };
        for key in map.keys() {
            assert!(
                ANNOTATIONS.contains(&key.as_str()) || ASSERTIONS.contains(&key.as_str()),
                "schema keyword {key:?} is not supported by the test validator"
            );
        }
        let mut evaluated = Evaluated::Unknown;
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(reference);
            evaluated = evaluated.merge(self.node(target, instance, path, errors));
        }
        if let Some(kind) = map.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                other => panic!("bad type keyword {other}"),
            };
            if !kinds.iter().any(|k| has_type(instance, k)) {
                errors.push(format!("{path}: expected type {kinds:?}, got {instance}"));
            }
        }
        if let Some(options) = map.get("enum").and_then(Value::as_array)
            && !options.contains(instance)
        {
            errors.push(format!("{path}: {instance} not in enum {options:?}"));
        }
        if let Some(expected) = map.get("const")
            && expected != instance
        {
            errors.push(format!("{path}: expected const {expected}, got {instance}"));
        }
        if let Value::String(text) = instance {
            self.string_keywords(map, text, path, errors);
        }
        if let Some(number) = instance.as_f64() {
            if let Some(min) = map.get("minimum").and_then(Value::as_f64)
                && number < min
            {
                errors.push(format!("{path}: {number} < minimum {min}"));
            }
            if let Some(max) = map.get("maximum").and_then(Value::as_f64)
                && number > max
            {
                errors.push(format!("{path}: {number} > maximum {max}"));
            }
        }
        if let Value::Object(object) = instance {
            evaluated = evaluated.merge(self.object_keywords(map, object, path, errors));
        }
        if let Value::Array(items) = instance {
            if let Some(min) = map.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!("{path}: fewer than {min} items"));
            }
            if let Some(max) = map.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                errors.push(format!("{path}: more than {max} items"));
            }
            let prefix = map.get("prefixItems").and_then(Value::as_array);
            for (idx, item) in items.iter().enumerate() {
                let item_path = format!("{path}/{idx}");
                match prefix.and_then(|p| p.get(idx)) {
                    Some(sub) => self.value(sub, item, &item_path, errors),
                    None => {
                        if let Some(sub) = map.get("items") {
                            self.value(sub, item, &item_path, errors);
                        }
                    }
                }
            }
        }
        if let Some(branches) = map.get("allOf").and_then(Value::as_array) {
            for branch in branches {
                evaluated = evaluated.merge(self.node(branch, instance, path, errors));
            }
        }
        if let Some(branches) = map.get("anyOf").and_then(Value::as_array) {
            let mut passed = false;
            let mut branch_errors = Vec::new();
            for branch in branches {
                let mut errs = Vec::new();
                let branch_eval = self.node(branch, instance, path, &mut errs);
                if errs.is_empty() {
                    passed = true;
                    evaluated = evaluated.merge(branch_eval);
                } else {
                    branch_errors.extend(errs);
                }
            }
            if !passed {
                errors.push(format!(
                    "{path}: matches no anyOf branch: {branch_errors:?}"
                ));
            }
        }
        if let Some(not) = map.get("not") {
            let mut errs = Vec::new();
            self.node(not, instance, path, &mut errs);
            if errs.is_empty() {
                errors.push(format!("{path}: must not match {not}"));
            }
        }
        evaluated
    }

    fn string_keywords(
        &self,
        map: &serde_json::Map<String, Value>,
        text: &str,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(min) = map.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            errors.push(format!("{path}: {text:?} shorter than {min}"));
        }
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str) {
            assert_eq!(pattern, "^[0-9a-z]+$", "unsupported pattern");
            if !valid_id(text) {
                errors.push(format!("{path}: {text:?} does not match {pattern}"));
            }
        }
        match map.get("format").and_then(Value::as_str) {
            None => {}
            Some("date-time") if !is_fake_timestamp(text) => errors.push(format!(
                "{path}: {text:?} is not a YYYY-MM-DDTHH:MM:SS.sssZ date-time"
            )),
            Some("email") if !is_email(text) => {
                errors.push(format!("{path}: {text:?} is not an email"))
            }
            Some("date-time" | "email") => {}
            Some(other) => panic!("unsupported format {other}"),
        }
    }

    fn object_keywords(
        &self,
        map: &serde_json::Map<String, Value>,
        object: &serde_json::Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) -> Evaluated {
        let mut evaluated = Evaluated::Unknown;
        let properties = map.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            evaluated = Evaluated::Keys(properties.keys().cloned().collect());
            for (key, sub) in properties {
                if let Some(item) = object.get(key) {
                    self.value(sub, item, &format!("{path}/{key}"), errors);
                }
            }
        }
        if let Some(required) = map.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    errors.push(format!("{path}: missing required key {key:?}"));
                }
            }
        }
        if let Some(additional) = map.get("additionalProperties") {
            for (key, item) in object {
                if !properties.is_some_and(|p| p.contains_key(key)) {
                    self.value(additional, item, &format!("{path}/{key}"), errors);
                }
            }
            evaluated = Evaluated::All;
        }
        if let Some(names) = map.get("propertyNames") {
            for key in object.keys() {
                self.value(
                    names,
                    &Value::String(key.clone()),
                    &format!("{path}/{key}"),
                    errors,
                );
            }
        }
        evaluated
    }
}

fn has_type(instance: &Value, kind: &str) -> bool {
    match kind {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "number" => instance.is_number(),
        "integer" => instance.as_f64().is_some_and(|n| n.fract() == 0.0),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// The fake's promised timestamp form (stricter than RFC 3339): `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn is_fake_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// `^[0-9a-z]+$`.
fn valid_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

fn is_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    })
}
