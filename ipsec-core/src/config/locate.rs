//! Finding objects and fields in the TOML text, to put a line and column on every error.
//!
//! The document is parsed once, by the `toml` crate, into its spanned tree (`DeTable`): every key
//! and value keeps its byte span. The configuration is deserialized from that tree; serde errors
//! (which carry a span) are mapped back to the object and field around that span, and validation
//! errors (which carry an object index and a field path) are mapped forward to the span of that
//! field.

use super::error::{path_display, ConfigError, Location, ObjectKind, ObjectRef, Problem, Seg};
use core::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Key<'s> = Spanned<toml::de::DeString<'s>>;

/// The entry `key` of `value` when it is a table.
fn get<'a, 's>(
    value: &'a DeValue<'s>,
    key: &str,
) -> Option<(&'a Key<'s>, &'a Spanned<DeValue<'s>>)> {
    value.as_table()?.get_key_value(key)
}

/// The string value of the `name` entry of a table.
fn name_of(value: &DeValue<'_>) -> Option<String> {
    get(value, "name").and_then(|(_, n)| n.get_ref().as_str().map(str::to_owned))
}

/// One parsed document: its text and spanned tree.
pub(crate) struct Document<'s> {
    source: &'s str,
    root: Spanned<DeTable<'s>>,
}

impl<'s> Document<'s> {
    /// Parses `source`; a syntax error becomes the one [`ConfigError`] of the file.
    pub(crate) fn parse(source: &'s str) -> Result<Self, Vec<ConfigError>> {
        match DeTable::parse(source) {
            Ok(root) => Ok(Document { source, root }),
            Err(e) => Err(vec![ConfigError {
                object: None,
                field: None,
                problem: Problem::Syntax(e.message().trim().to_string()),
                location: e.span().map(|s| Location::of_offset(source, s.start)),
                site: None,
            }]),
        }
    }

    /// A deserializer over the parsed tree (the text is not parsed again).
    pub(crate) fn deserializer(&self) -> toml::de::Deserializer<'s> {
        toml::de::Deserializer::from(self.root.clone())
    }

    fn loc(&self, span: Range<usize>) -> Location {
        Location::of_offset(self.source, span.start)
    }

    /// Sets `location` on a validation error from its object index and field path: the key of the
    /// deepest path step found, or the object's table when the field is absent.
    pub(crate) fn place(&self, e: &mut ConfigError) {
        let (Some(obj), Some((index, path))) = (&e.object, &e.site) else {
            return;
        };
        let Some(arr) = self.root.get_ref().get(obj.kind.as_str()) else {
            return;
        };
        let Some(item) = arr.get_ref().as_array().and_then(|items| items.get(*index)) else {
            return;
        };
        let mut span = item.span();
        let mut node = item.get_ref();
        for seg in path {
            let step = match seg {
                Seg::Key(k) => get(node, k).map(|(key, val)| (key.span(), val)),
                Seg::Index(i, _) => node
                    .as_array()
                    .and_then(|a| a.get(*i))
                    .map(|x| (x.span(), x)),
            };
            let Some((at, next)) = step else {
                break;
            };
            span = at;
            node = next.get_ref();
        }
        e.location = Some(self.loc(span));
    }

    /// Turns a serde error into a [`ConfigError`] naming the object and field that contain the
    /// error's span.
    pub(crate) fn error_of(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim().to_string();
        let span = err.span();
        let mut out = ConfigError {
            object: None,
            field: None,
            problem: classify(&message),
            location: span.clone().map(|s| self.loc(s)),
            site: None,
        };
        let Some(span) = span else {
            return out;
        };
        // The top-level table holding the span: an object kind (or an unknown top-level key).
        let top = self.root.get_ref();
        let Some((key, val)) = top.iter().find(|(k, v)| holds(Some(k), v, &span)) else {
            if let Problem::UnknownField { name: f, .. } = &out.problem {
                out.field = Some(f.clone());
            }
            return out;
        };
        let Some(kind) = ObjectKind::from_table_name(key.get_ref()) else {
            out.field = Some(key.get_ref().to_string());
            return out;
        };
        let item = val.get_ref().as_array().and_then(|items| {
            items
                .iter()
                .enumerate()
                .find(|(_, i)| holds(None, i, &span))
        });
        let Some((index, item)) = item else {
            out.object = Some(ObjectRef { kind, name: None });
            return out;
        };
        let name = name_of(item.get_ref());
        out.object = Some(ObjectRef { kind, name });
        // Descend to the innermost key whose key or value holds the span.
        let mut path = Vec::new();
        let mut node = item.get_ref();
        loop {
            if let Some(t) = node.as_table() {
                let Some((k, v)) = t.iter().find(|(k, v)| holds(Some(k), v, &span)) else {
                    break;
                };
                path.push(Seg::Key(k.get_ref().to_string()));
                node = v.get_ref();
            } else if let Some(a) = node.as_array() {
                let Some((i, x)) = a.iter().enumerate().find(|(_, x)| holds(None, x, &span)) else {
                    break;
                };
                path.push(Seg::Index(i, name_of(x.get_ref())));
                node = x.get_ref();
            } else {
                break;
            }
        }
        // Unknown and missing fields name the field in the message, not by position.
        match &out.problem {
            Problem::UnknownField { name: f, .. } if path.last() != Some(&Seg::Key(f.clone())) => {
                path.push(Seg::Key(f.clone()))
            }
            Problem::Missing => {
                if let Some(f) = backticked(&message) {
                    path.push(Seg::Key(f));
                }
            }
            _ => {}
        }
        out.field = path_display(&path);
        out.site = Some((index, path));
        out
    }
}

/// True when `span` lies in `v`, in its key, or in any of its descendants (an array of tables
/// such as `[[ipsec-tunnel.proxy-id]]` sits outside its parent's header span).
fn holds(k: Option<&Key<'_>>, v: &Spanned<DeValue<'_>>, span: &Range<usize>) -> bool {
    if k.is_some_and(|k| k.span() == *span) || contains(v, span) {
        return true;
    }
    match v.get_ref() {
        DeValue::Table(t) => t.iter().any(|(k, v)| holds(Some(k), v, span)),
        DeValue::Array(a) => a.iter().any(|x| holds(None, x, span)),
        _ => false,
    }
}

fn contains(v: &Spanned<DeValue<'_>>, span: &Range<usize>) -> bool {
    let s = v.span();
    s.start <= span.start && span.end <= s.end
}

/// The first `quoted` word of a serde message.
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn classify(message: &str) -> Problem {
    if message.starts_with("unknown field") {
        if let Some(f) = backticked(message) {
            let expected = message
                .split_once(", expected ")
                .map(|(_, e)| format!("expected {e}"))
                .unwrap_or_default();
            return Problem::UnknownField { name: f, expected };
        }
    }
    if message.starts_with("missing field") {
        return Problem::Missing;
    }
    Problem::InvalidValue(message.to_string())
}
