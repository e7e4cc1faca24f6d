//! Finding objects and fields in the TOML text, to put a line and column on every error.
//!
//! The document is read a second time into a loose tree that accepts any TOML and keeps the byte
//! span of every key and value. Serde errors (which carry a span) are mapped back to the object and
//! field around that span; validation errors (which carry an object index and a field path) are
//! mapped forward to the span of that field.

use super::error::{path_display, ConfigError, Location, ObjectKind, ObjectRef, Problem, Seg};
use core::fmt;
use core::ops::Range;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A TOML value with spans, of no particular schema.
#[derive(Debug)]
pub(crate) enum Node {
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Str(String),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element::<Spanned<Node>>()? {
            v.push(x);
        }
        Ok(Node::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            let val = map.next_value::<Spanned<Node>>()?;
            v.push((k, val));
        }
        Ok(Node::Table(v))
    }
}

impl Node {
    fn get(&self, key: &str) -> Option<(&Spanned<String>, &Spanned<Node>)> {
        match self {
            Node::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }
}

/// The parsed loose tree of one document.
pub(crate) struct Document<'s> {
    source: &'s str,
    root: Option<Node>,
}

impl<'s> Document<'s> {
    pub(crate) fn parse(source: &'s str) -> Self {
        Document {
            source,
            root: toml::from_str::<Node>(source).ok(),
        }
    }

    fn loc(&self, span: Range<usize>) -> Location {
        Location::of_offset(self.source, span.start)
    }

    /// Sets `location` on a validation error from its object index and field path: the key of the
    /// deepest path step found, or the object's table when the field is absent.
    pub(crate) fn place(&self, e: &mut ConfigError) {
        let (Some(root), Some(obj), Some((index, path))) = (&self.root, &e.object, &e.site) else {
            return;
        };
        let Some((_, arr)) = root.get(obj.kind.as_str()) else {
            return;
        };
        let Node::Array(items) = arr.get_ref() else {
            return;
        };
        let Some(item) = items.get(*index) else {
            return;
        };
        let mut span = item.span();
        let mut node: &Node = item.get_ref();
        for seg in path {
            match seg {
                Seg::Key(k) => match node.get(k) {
                    Some((key, val)) => {
                        span = key.span();
                        node = val.get_ref();
                    }
                    None => break,
                },
                Seg::Index(i, _) => match node {
                    Node::Array(a) => match a.get(*i) {
                        Some(x) => {
                            span = x.span();
                            node = x.get_ref();
                        }
                        None => break,
                    },
                    _ => break,
                },
            }
        }
        e.location = Some(self.loc(span));
    }

    /// Turns a serde/TOML error into a [`ConfigError`] naming the object and field that contain
    /// the error's span.
    pub(crate) fn error_of(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim().to_string();
        let span = err.span();
        let location = span.clone().map(|s| self.loc(s));
        let problem = classify(&message, self.root.is_none());
        let mut out = ConfigError {
            object: None,
            field: None,
            problem,
            location,
            site: None,
        };
        let (Some(root), Some(span)) = (&self.root, span) else {
            return out;
        };
        let Node::Table(top) = root else {
            return out;
        };
        // The top-level table holding the span: an object kind (or an unknown top-level key).
        let Some((key, val)) = top.iter().find(|(k, v)| holds(Some(k), v, &span)) else {
            if let Problem::UnknownField { name: f, .. } = &out.problem {
                out.field = Some(f.clone());
            }
            return out;
        };
        let Some(kind) = ObjectKind::from_table_name(key.get_ref()) else {
            out.field = Some(key.get_ref().clone());
            return out;
        };
        let Node::Array(items) = val.get_ref() else {
            out.object = Some(ObjectRef { kind, name: None });
            return out;
        };
        let Some((index, item)) = items
            .iter()
            .enumerate()
            .find(|(_, i)| holds(None, i, &span))
        else {
            out.object = Some(ObjectRef { kind, name: None });
            return out;
        };
        let name = match item.get_ref().get("name") {
            Some((_, n)) => match n.get_ref() {
                Node::Str(s) => Some(s.clone()),
                _ => None,
            },
            None => None,
        };
        out.object = Some(ObjectRef { kind, name });
        // Descend to the innermost key whose key or value holds the span.
        let mut path = Vec::new();
        let mut node = item.get_ref();
        loop {
            match node {
                Node::Table(t) => match t.iter().find(|(k, v)| holds(Some(k), v, &span)) {
                    Some((k, v)) => {
                        path.push(Seg::Key(k.get_ref().clone()));
                        node = v.get_ref();
                    }
                    None => break,
                },
                Node::Array(a) => match a.iter().enumerate().find(|(_, x)| holds(None, x, &span)) {
                    Some((i, x)) => {
                        let n = match x.get_ref().get("name") {
                            Some((_, n)) => match n.get_ref() {
                                Node::Str(s) => Some(s.clone()),
                                _ => None,
                            },
                            None => None,
                        };
                        path.push(Seg::Index(i, n));
                        node = x.get_ref();
                    }
                    None => break,
                },
                _ => break,
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
fn holds(k: Option<&Spanned<String>>, v: &Spanned<Node>, span: &Range<usize>) -> bool {
    if k.is_some_and(|k| k.span() == *span) || contains(v, span) {
        return true;
    }
    match v.get_ref() {
        Node::Table(t) => t.iter().any(|(k, v)| holds(Some(k), v, span)),
        Node::Array(a) => a.iter().any(|x| holds(None, x, span)),
        _ => false,
    }
}

fn contains(v: &Spanned<Node>, span: &Range<usize>) -> bool {
    let s = v.span();
    s.start <= span.start && span.end <= s.end
}

/// The first `quoted` word of a serde message.
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn classify(message: &str, syntax: bool) -> Problem {
    if syntax {
        return Problem::Syntax(message.to_string());
    }
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
