//! STUB (replaced by the real module)
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReturnPathError { #[error("bad")] Bad }
pub fn validate_return_path(rd: &str) -> Result<String, ReturnPathError> { if rd.starts_with('/') && !rd.starts_with("//") { Ok(rd.to_string()) } else { Err(ReturnPathError::Bad) } }
