//! STUB (replaced by the real module)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(String);
impl CanonicalPath { pub fn as_str(&self) -> &str { &self.0 } pub fn starts_with_prefix(&self, prefix: &str) -> bool { self.0 == prefix || (prefix.ends_with('/') && self.0.starts_with(prefix)) || (self.0.starts_with(prefix) && self.0.as_bytes().get(prefix.len()) == Some(&b'/')) } }
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError { #[error("bad path")] Bad }
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, PathError> { if raw.starts_with('/') { Ok(CanonicalPath(raw.to_string())) } else { Err(PathError::Bad) } }
pub fn canonical_prefix(prefix: &str) -> Result<String, PathError> { canonicalize(prefix).map(|p| p.0) }
